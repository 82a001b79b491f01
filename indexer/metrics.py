"""The indexer's Prometheus metrics and a `/metrics` endpoint of its own.

The metric types are `daas.metrics`'s. `IndexerMetrics` names every metric the indexer updates;
`serve_metrics` exposes a registry over HTTP on a host and port of the operator's choosing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from daas.metrics import Counter, Gauge, Histogram, Registry

__all__ = ["IndexerMetrics", "serve_metrics"]

# Raw observations kept for the quantiles of the progress lines and the benchmark.
KEEP = 10_000


class IndexerMetrics:
    """Every metric the indexer updates, registered on `registry`."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        r = self.registry.register
        self.watermark = r(Gauge("daas_indexer_watermark", "highest checkpoint committed"))
        self.node_height = r(
            Gauge("daas_indexer_node_checkpoint_height", "newest checkpoint the node reported")
        )
        self.lag = r(
            Gauge("daas_indexer_lag_checkpoints", "node height minus the committed watermark")
        )
        self.checkpoints = r(Counter("daas_indexer_checkpoints_total", "checkpoints committed"))
        self.archive_reads = r(
            Counter(
                "daas_indexer_archive_checkpoints_total",
                "checkpoints read from the archival endpoint (pruned on the node)",
            )
        )
        self.events = r(
            Counter("daas_indexer_events_total", "events of our package, by type", ["type"])
        )
        self.rejected = r(
            Counter(
                "daas_indexer_rejected_events_total",
                "events of ours kept raw: malformed, not storable, or of an unknown type",
                ["reason"],
            )
        )
        self.reconnects = r(
            Counter("daas_indexer_reconnects_total", "checkpoint stream reconnects", ["reason"])
        )
        self.commits = r(Counter("daas_indexer_commits_total", "batches committed"))
        self.commit_failures = r(
            Counter(
                "daas_indexer_commit_failures_total", "batch commits that failed and were retried"
            )
        )
        self.commit_seconds = r(
            Histogram(
                "daas_indexer_commit_seconds", "time to write and commit one batch", keep=KEEP
            )
        )
        self.latency = r(
            Histogram(
                "daas_indexer_checkpoint_latency_seconds",
                "from a checkpoint's arrival to the commit of its rows",
                keep=KEEP,
            )
        )

    def set_height(self, height: int) -> None:
        current = self.node_height.value()
        if current is None or height > current:
            self.node_height.set(height)
        self._update_lag()

    def set_watermark(self, checkpoint: int) -> None:
        self.watermark.set(checkpoint)
        self._update_lag()

    def _update_lag(self) -> None:
        height, mark = self.node_height.value(), self.watermark.value()
        if height is not None and mark is not None:
            self.lag.set(max(0.0, height - mark))


@contextlib.asynccontextmanager
async def serve_metrics(registry: Registry, host: str, port: int) -> AsyncIterator[int]:
    """Serve `GET /metrics` on host:port while the block runs; yields the bound port (for port 0)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method == "GET" and path.split("?", 1)[0] == "/metrics":
                status, body = "200 OK", registry.render().encode()
                kind = "text/plain; version=0.0.4; charset=utf-8"
            else:
                status, body, kind = "404 Not Found", b"not found\n", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
