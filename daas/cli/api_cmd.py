"""`daas api`: serve the HTTP API (REST, SSE, the `/v2` registry, health, metrics) with uvicorn until stopped."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daas.cli.app import app
from daas.cli.output import state

if TYPE_CHECKING:
    import uvicorn


@app.command("api")
def api(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="address to listen on (default: api.host)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="port to listen on (default: api.port)"),
    ] = None,
) -> None:
    """Serve the API: builds, live events (SSE), the read-only registry for `docker pull`, /healthz,
    /metrics. The database must be migrated (`daas db upgrade`); Ctrl-C stops."""
    import uvicorn

    from api.app import create_app
    from api.process import tune_gc
    from daas.db import migrate
    from daas.db.engine import create_engine_for

    st = state(ctx)
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = st.settings_with(api=overrides) if overrides else st.settings
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = create_engine_for(settings.effective_database_url)
    try:
        migrate.ensure_current(engine)
        application = create_app(settings, engine=engine)
        sock = _listen(settings.api.host, settings.api.port)
        config = uvicorn.Config(
            application,
            lifespan="on",
            log_config=None,  # keep the logging configured above
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = _server_class(uvicorn.Server)(config)
        bound = sock.getsockname()
        logging.getLogger("daas.api").info("serving on http://%s:%d", bound[0], bound[1])
        tune_gc()  # see api.process: the collector's pauses set the SSE tail latency under load
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        engine.dispose()


def _server_class(base: type[uvicorn.Server]) -> type[uvicorn.Server]:
    class Server(base):  # type: ignore[valid-type, misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown (exit 130/143, and for SIGTERM
            # no clean-up); a service that stopped as asked exits 0. `handle_exit` stays the method
            # sse-starlette wraps to end open streams.
            signals = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without it every
    # response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock
