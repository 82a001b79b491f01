"""The API's Prometheus metrics: a small typed registry rendered in the text exposition format (0.0.4).

`prometheus_client` is not a dependency, and the API needs only counters, gauges and histograms with a label
or two, so they are written out here. `ApiMetrics` names every metric the API updates; gauges that describe
the database (builds by status, watermark) are refreshed by the `/metrics` route at scrape time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["ApiMetrics", "Counter", "Gauge", "Histogram", "Registry"]

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
        return [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only rises."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {} if self.labelnames else {(): 0.0}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only rises")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

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

    def add(self, amount: float, *labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def clear(self) -> None:
        self._values.clear()

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, key)} {_number(value)}"
            for key, value in sorted(self._values.items())
        ]


class Histogram(_Metric):
    """Observations in cumulative buckets, per label combination."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        # Per label key: bucket counts (not cumulative), count, sum.
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = ([0] * len(self.buckets), [0.0, 0.0])
        counts, totals = series
        totals[0] += 1
        totals[1] += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break

    def count(self, *labels: str) -> int:
        series = self._series.get(self._key(labels))
        return 0 if series is None else int(series[1][0])

    def samples(self) -> list[str]:
        out = []
        for key, (counts, (count, total)) in sorted(self._series.items()):
            cumulative = 0
            for bound, n in zip(self.buckets, counts, strict=True):
                cumulative += n
                le = _labels(self.labelnames, key, f'le="{_number(bound)}"')
                out.append(f"{self.name}_bucket{le} {cumulative}")
            le = _labels(self.labelnames, key, 'le="+Inf"')
            out.append(f"{self.name}_bucket{le} {int(count)}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.labelnames, key)} {int(count)}")
        return out


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one app, rendered in the Prometheus text format."""

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


class ApiMetrics:
    """Every metric the API updates, registered on one `Registry` per app (never process-global)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.http_requests = r.register(
            Counter(
                "daas_api_http_requests_total",
                "HTTP requests answered, by method, route template and status code",
                ("method", "route", "status"),
            )
        )
        self.http_latency = r.register(
            Histogram(
                "daas_api_http_response_start_seconds",
                "Seconds from request to response headers (streams count until their first byte)",
                ("route",),
            )
        )
        self.sse_clients = r.register(
            Gauge("daas_api_sse_clients", "Open SSE streams, by feed (build or global)", ("feed",))
        )
        self.sse_events_sent = r.register(
            Counter(
                "daas_api_sse_events_total",
                "Events handed to SSE streams: replayed from the database, or pushed live",
                ("phase",),
            )
        )
        self.sse_disconnects = r.register(
            Counter(
                "daas_api_sse_closed_total",
                "SSE streams closed by the server, by reason (final, overflow, send_timeout)",
                ("reason",),
            )
        )
        self.feed_tail_id = r.register(
            Gauge("daas_api_feed_tail_event_id", "Highest build event id fanned out to clients")
        )
        self.feed_delay = r.register(
            Histogram(
                "daas_api_feed_delay_seconds",
                "Seconds from an event's creation to its fan-out by this process",
            )
        )
        self.feed_errors = r.register(
            Counter("daas_api_feed_errors_total", "Failed reads of the event tail (retried)")
        )
        self.registry_bytes = r.register(
            Counter(
                "daas_api_registry_bytes_total",
                "Bytes of image blobs and manifests served by /v2",
                ("kind",),
            )
        )
        self.registry_integrity_failures = r.register(
            Counter(
                "daas_api_registry_integrity_failures_total",
                "Responses aborted because Walrus served bytes that failed verification",
            )
        )
        self.builds = r.register(
            Gauge("daas_builds", "Builds in the database, by on-chain status", ("status",))
        )
        self.watermark = r.register(
            Gauge(
                "daas_indexer_watermark_checkpoint",
                "Highest checkpoint the indexer committed, as read by the API",
            )
        )
        self.watermark_lag = r.register(
            Gauge(
                "daas_indexer_watermark_lag_seconds",
                "Seconds between now and the chain time of the indexer's last checkpoint",
            )
        )
        self.runner_heartbeat_age = r.register(
            Gauge(
                "daas_runner_heartbeat_age_seconds",
                "Seconds since the most recent runner heartbeat",
            )
        )
