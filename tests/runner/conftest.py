"""Fixtures of the runner tests: the asyncio backend and a migrated SQLite database.

Tests that must run on both databases take `engine` (SQLite and PostgreSQL, from `tests.fixtures.database`);
the rest use `sqlite_engine` to keep the suite short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from daas.db.engine import create_engine_for
from daas.db.migrate import upgrade


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db' / 'daas.db'}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
