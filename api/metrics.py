"""The API's Prometheus metrics: a small typed registry rendered in the text exposition format (0.0.4).

The metric types are `daas.metrics`'s. `ApiMetrics` names every metric the API updates; gauges that describe
the database (builds by status, watermark) are refreshed by the `/metrics` route at scrape time.
"""

from __future__ import annotations

from daas.metrics import Counter, Gauge, Histogram, Registry

__all__ = ["ApiMetrics"]


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
