"""Prometheus metrics without a client library: counters, gauges, histograms, rendered in text format 0.0.4.

`prometheus_client` is not a dependency, and the services need only a few metrics with a label or two. Each
service names its own metrics on its own `Registry` (`indexer.metrics.IndexerMetrics`, `api.metrics.ApiMetrics`),
never a process-global one, so two services in one process (`daas dev`, `daas up`) do not collide.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["LATENCY_BUCKETS", "Counter", "Gauge", "Histogram", "Registry"]

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

    def total(self) -> float:
        """The sum over every label combination."""
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
    """Observations in cumulative buckets, per label combination.

    With `keep`, the last `keep` raw observations (of every label combination) are also held, so a process can
    log quantiles (`quantile`) without a Prometheus server.
    """

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
        *,
        keep: int = 0,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self._recent: collections.deque[float] = collections.deque(maxlen=keep)
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
        self._recent.append(value)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break

    def count(self, *labels: str) -> int:
        series = self._series.get(self._key(labels))
        return 0 if series is None else int(series[1][0])

    def quantile(self, q: float) -> float | None:
        """The q-quantile of the kept observations (nearest rank); None when none are kept."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

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
    """The metrics of one app or service, rendered in the Prometheus text format."""

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
