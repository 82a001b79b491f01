"""Fixtures of the indexer tests: settings for a fake chain, and a runner with a time limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from daas.config import Settings, load_settings
from tests.indexer.fakes import CHAIN_ID, PACKAGE


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_settings(engine: sa.Engine) -> Callable[..., Settings]:
    """Settings for the database of `engine` and the fake chain; keyword overrides per section."""

    def make(**indexer: Any) -> Settings:
        chain = indexer.pop("chain", {})
        return load_settings(
            database_url=engine.url.render_as_string(hide_password=False),
            chain={"package_id": PACKAGE, "chain_id": CHAIN_ID, **chain},
            indexer={"progress_interval_s": 60.0, **indexer},
        )

    return make
