"""Fixtures of the CLI tests: the asyncio backend, and the Sui and Walrus stand-ins with configs for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.support import CliStack, cli_stack


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[CliStack]:
    async with cli_stack(tmp_path) as running:
        yield running
