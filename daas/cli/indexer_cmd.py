"""`daas indexer`: follow the chain and write our package's events to the database until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Annotated, Any

import typer

from daas.cli.app import app
from daas.cli.output import state
from daas.config import Settings


@app.command("indexer")
def indexer(
    ctx: typer.Context,
    first_checkpoint: Annotated[
        int | None,
        typer.Option(
            "--first-checkpoint",
            min=0,
            help="where a pipeline with no watermark starts (refused if it would leave a gap)",
        ),
    ] = None,
    last_checkpoint: Annotated[
        int | None,
        typer.Option("--last-checkpoint", min=0, help="stop once this checkpoint is committed"),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=0, max=65535, help="serve Prometheus /metrics here"),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="address for --metrics-port")
    ] = "127.0.0.1",
    package_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--package-id",
            help="another id of our package whose new types to index (after an upgrade); repeatable",
        ),
    ] = None,
) -> None:
    """Index the daas package's events: subscribe, backfill from the watermark, follow; Ctrl-C stops."""
    st = state(ctx)
    settings = st.settings
    if first_checkpoint is not None:
        settings = st.settings_with(indexer={"first_checkpoint": first_checkpoint})
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(
        _run(
            settings,
            last_checkpoint=last_checkpoint,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            extra_package_ids=package_ids or [],
        )
    )


async def _run(
    settings: Settings,
    *,
    last_checkpoint: int | None,
    metrics_port: int | None,
    metrics_host: str,
    extra_package_ids: list[str],
) -> None:
    from daas.db.engine import create_engine_for
    from indexer.grpc_source import GrpcCheckpointSource
    from indexer.metrics import IndexerMetrics, serve_metrics
    from indexer.service import Indexer

    log = logging.getLogger("indexer")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal(*_: Any) -> None:
        if stop.is_set() and main is not None:
            main.cancel()  # a second signal: do not wait any longer
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)

    engine = create_engine_for(settings.effective_database_url)
    source = GrpcCheckpointSource.from_settings(settings)
    archive_url = settings.archive_grpc_url
    archive = GrpcCheckpointSource.from_settings(settings, url=archive_url) if archive_url else None
    metrics = IndexerMetrics()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics_port is not None:
                port = await stack.enter_async_context(
                    serve_metrics(metrics.registry, metrics_host, metrics_port)
                )
                log.info("metrics on http://%s:%d/metrics", metrics_host, port)
            service = Indexer(
                settings,
                engine=engine,
                source=source,
                archive=archive,
                metrics=metrics,
                last_checkpoint=last_checkpoint,
                extra_package_ids=extra_package_ids,
            )
            await service.run(stop)
    finally:
        source.close()
        if archive is not None:
            archive.close()
        engine.dispose()
