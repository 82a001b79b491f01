"""The indexer's Prometheus metrics: a small typed registry, its text format, and a `/metrics` endpoint.

`prometheus_client` is not a dependency of the project, and the indexer needs only counters, gauges and
histograms with a label or two, so they are written out here (about what the text exposition format 0.0.4
requires). `IndexerMetrics` names every metric the indexer updates; `serve_metrics` exposes a registry over
HTTP on a host and port of the operator's choosing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "IndexerMetrics",
    "Registry",
    "serve_metrics",
]

LabelValues = tuple[str, ...]
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: LabelValues, extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def _key(self, labels: Sequence[str]) -> LabelValues:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only rises."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only rises")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def total(self) -> float:
        return sum(self._values.values())

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, key)} {_number(value)}"
            for key, value in sorted(self._values.items())
        ]


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, *labels: str) -> None:
        self._values[self._key(labels)] = float(value)

    def value(self, *labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, key)} {_number(value)}"
            for key, value in sorted(self._values.items())
        ]


class Histogram(_Metric):
    """Observations in cumulative buckets, plus the last `keep` raw values for quantiles in logs."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Iterable[float] = LATENCY_BUCKETS,
        *,
        keep: int = 10_000,
    ) -> None:
        super().__init__(name, help_text)
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * len(self.buckets)
        self._count = 0
        self._sum = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=keep)

    def observe(self, value: float) -> None:
        self._count += 1
        self._sum += value
        self._recent.append(value)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self._counts[i] += 1
                break

    @property
    def count(self) -> int:
        return self._count

    def quantile(self, q: float) -> float | None:
        """The q-quantile of the recent observations (nearest rank); None before the first."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def samples(self) -> list[str]:
        out = []
        cumulative = 0
        for bound, count in zip(self.buckets, self._counts, strict=True):
            cumulative += count
            out.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self._count}')
        out.append(f"{self.name}_sum {_number(self._sum)}")
        out.append(f"{self.name}_count {self._count}")
        return out


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one process, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


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
            Histogram("daas_indexer_commit_seconds", "time to write and commit one batch")
        )
        self.latency = r(
            Histogram(
                "daas_indexer_checkpoint_latency_seconds",
                "from a checkpoint's arrival to the commit of its rows",
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
