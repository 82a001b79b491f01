"""Indexer, runner and API in one process and one task group (`daas up`, and `daas dev` on its stand-ins).

    indexer ──(rows + Wakeup)──▶ runner            one SQLite/PostgreSQL engine, one in-process Wakeup:
        └──────────────────────▶ API (uvicorn)     a request is claimed as soon as the indexer commits it

The three never import each other's internals beyond their entry points; a service that fails takes the
others down with it and its error out. Separate processes (`daas indexer`, `daas runner`, `daas api`) work
too: they meet through the database and LISTEN/NOTIFY (PostgreSQL) or polling (SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from daas.config import Settings
from daas.db import migrate
from daas.db.engine import create_engine_for
from daas.db.notify import Wakeup
from daas.errors import DaasError

if TYPE_CHECKING:
    from api.deps import DevFaucet

log = logging.getLogger("daas.services")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket for uvicorn (`port` 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else ~40 ms stalls).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
    except OSError as exc:
        sock.close()
        raise DaasError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another port (0 picks a "
            "free one)"
        ) from exc
    return sock


async def serve_services(
    settings: Settings,
    *,
    stop: asyncio.Event,
    sock: socket.socket | None = None,
    on_ready: Callable[[str], None] | None = None,
    then: Callable[[], Coroutine[Any, Any, None]] | None = None,
    faucet: DevFaucet | None = None,
) -> None:
    """Run indexer, runner and API until `stop` is set.

    `sock` is the API's listening socket (default: `api.host:api.port`); `on_ready` receives the API's URL
    once all three are up; `then` runs as one more task of the group after that. `faucet` (`daas dev` only)
    funds the dashboard's development wallet.
    """
    import uvicorn

    from api.app import create_app
    from daas.walrus import WalrusClient
    from indexer.grpc_source import GrpcCheckpointSource
    from indexer.service import Indexer
    from runner.service import open_runner

    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine_for(settings.effective_database_url)
        stack.callback(engine.dispose)
        await asyncio.to_thread(migrate.upgrade, engine)
        if sock is None:
            sock = listen(settings.api.host, settings.api.port)
        stack.callback(sock.close)
        changes = Wakeup()
        source = GrpcCheckpointSource.from_settings(settings)
        stack.callback(source.close)
        indexer = Indexer(settings, engine=engine, source=source, wakeup=changes)
        runner = await stack.enter_async_context(
            open_runner(settings, engine=engine, changes=changes)
        )
        store = await stack.enter_async_context(WalrusClient.from_settings(settings))
        app = create_app(settings, engine=engine, blob_store=store, notifier=changes, faucet=faucet)
        api = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
        host, port = sock.getsockname()[:2]
        url = f"http://{host}:{port}"
        async with asyncio.TaskGroup() as tg:
            tg.create_task(indexer.run(stop), name="indexer")
            tg.create_task(runner.run(), name="runner")
            tg.create_task(api.serve(sockets=[sock]), name="api")
            await runner.started.wait()
            while not api.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.02)
            if on_ready is not None:
                on_ready(url)
            if then is not None:
                tg.create_task(then(), name="then")
            await stop.wait()
            log.info("stopping indexer, runner and API")
            runner.request_stop(now=True)
            api.should_exit = True
