"""The metrics registry's text format and the /metrics endpoint."""

from __future__ import annotations

import asyncio

import pytest

from daas.metrics import Counter, Gauge, Histogram, Registry
from indexer.metrics import IndexerMetrics, serve_metrics

pytestmark = pytest.mark.anyio


def test_text_format() -> None:
    registry = Registry()
    events = registry.register(Counter("x_events_total", "events", ["type"]))
    level = registry.register(Gauge("x_level", "a level"))
    latency = registry.register(Histogram("x_seconds", "latency", buckets=[0.1, 1.0], keep=10))
    events.inc("BuildRequested", amount=2)
    events.inc('odd"name\\')
    level.set(4.5)
    for value in (0.05, 0.5, 3.0):
        latency.observe(value)
    text = registry.render()
    assert "# TYPE x_events_total counter" in text
    assert 'x_events_total{type="BuildRequested"} 2' in text
    assert 'x_events_total{type="odd\\"name\\\\"} 1' in text
    assert "x_level 4.5" in text
    assert 'x_seconds_bucket{le="0.1"} 1' in text
    assert 'x_seconds_bucket{le="1"} 2' in text
    assert 'x_seconds_bucket{le="+Inf"} 3' in text
    assert "x_seconds_count 3" in text
    assert latency.quantile(0.5) == 0.5
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Gauge("x_level", "again"))
    with pytest.raises(ValueError, match="only rises"):
        events.inc("BuildRequested", amount=-1)


def test_lag_follows_height_and_watermark() -> None:
    metrics = IndexerMetrics()
    metrics.set_height(100)
    metrics.set_watermark(90)
    assert metrics.lag.value() == 10
    metrics.set_height(95)  # an older report never lowers the height
    assert metrics.node_height.value() == 100


async def test_metrics_endpoint() -> None:
    metrics = IndexerMetrics()
    metrics.set_watermark(42)
    async with serve_metrics(metrics.registry, "127.0.0.1", 0) as port:
        for path, status in (("/metrics", b"200 OK"), ("/other", b"404 Not Found")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            assert reply.startswith(b"HTTP/1.1 " + status)
            if status == b"200 OK":
                assert b"daas_indexer_watermark 42" in reply
