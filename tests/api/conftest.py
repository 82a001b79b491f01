"""Fixtures for the API tests: settings in a temporary data dir, and the app served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.deps import HealthPolicy
from daas.config import Settings, load_settings
from tests.api.support import serve


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        walrus={"aggregator_url": "http://127.0.0.1:9", "publisher_url": "http://127.0.0.1:9"},
        api={"sse_ping_s": 5, "sse_send_timeout_s": 2, "sse_client_buffer": 50},
    )


@pytest.fixture
async def api_url(settings: Settings, engine: sa.Engine) -> AsyncIterator[str]:
    app = create_app(settings, engine=engine, health=HealthPolicy(None, None))
    async with serve(app) as url:
        yield url


@pytest.fixture
async def client(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        yield http
