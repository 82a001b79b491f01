"""The API's Sui client: injected by the caller (tests, `daas dev`) or created from the settings on first use.

Created lazily so the API starts while the node is unreachable; routes that need the chain answer 503 until
it is back. The app's lifespan owns one `ChainAccess` and closes it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from daas.chain.client import RetryPolicy, SuiClient
from daas.chain.ports import ChainWriter
from daas.config import Settings

__all__ = ["AccessDep", "ChainAccess"]


class ChainAccess:
    """The API's chain client: the injected one, or one from the settings, connected on first use.

    A failed connect is not remembered: the next request tries again. Only a client created here is closed
    by `aclose`.
    """

    def __init__(
        self,
        settings: Settings,
        client: ChainWriter | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._owned: SuiClient | None = None
        self._retry = retry
        self._lock = asyncio.Lock()

    async def get(self) -> ChainWriter:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                client = SuiClient.from_settings(self._settings)
                if self._retry is not None:
                    client.retry = self._retry
                await client.connect()  # closes itself on failure
                self._owned = client
                self._client = client
        return self._client

    async def aclose(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            self._client = None
            await owned.close()


async def _access(request: Request) -> ChainAccess:
    access = getattr(request.app.state, "daas_chain", None)
    if not isinstance(access, ChainAccess):
        raise RuntimeError("the API's lifespan has not run: serve the app with lifespan='on'")
    return access


AccessDep = Annotated[ChainAccess, Depends(_access)]
