"""Fixtures of the runner tests: the asyncio backend and a migrated SQLite database.

Tests that must run on both databases take `engine` (SQLite and PostgreSQL, from `tests.fixtures.database`);
the rest use `sqlite_engine` to keep the suite short.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
