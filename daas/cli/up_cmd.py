"""`daas up`: indexer, runner and API in one process against the configured network (see `daas.services`).

For a real network: set the package ids (`daas publish`), the keys (a funded Sui key for gas, the runner's
enclave key registered as an enclave) and the endpoints, then `daas --config FILE up`. Separate processes
(`daas indexer`, `daas runner`, `daas api`) on one PostgreSQL scale further.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Annotated

import typer

from daas.cli.app import app
from daas.cli.output import state


@app.command("up")
def up(
    ctx: typer.Context,
    api_port: Annotated[
        int | None, typer.Option(help="API port (default: api.port; 0 picks a free one)")
    ] = None,
) -> None:
    """Run the indexer, the runner and the API together until interrupted."""
    from daas.services import listen, serve_services

    st = state(ctx)
    settings = st.settings
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    port = settings.api.port if api_port is None else api_port

    def ready(url: str) -> None:
        if st.json:
            sys.stdout.write(json.dumps({"ready": True, "api_url": url}) + "\n")
            sys.stdout.flush()
        else:
            st.console.print(
                f"[bold green]DaaS is up[/] on {settings.network}: API {url} (Ctrl-C stops it)",
                soft_wrap=True,
            )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await serve_services(
            settings, stop=stop, sock=listen(settings.api.host, port), on_ready=ready
        )

    asyncio.run(main())
