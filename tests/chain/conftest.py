"""Fixtures for the chain client tests: a running Sui stand-in with a connected `SuiClient`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.sui.testing import DevChain, dev_chain


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def chain() -> AsyncIterator[DevChain]:
    async with dev_chain() as running:
        yield running
