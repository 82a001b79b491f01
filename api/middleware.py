"""Request metrics as a plain ASGI middleware (streams pass through untouched, unlike BaseHTTPMiddleware)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import ApiMetrics

__all__ = ["MetricsMiddleware"]


class MetricsMiddleware:
    """Counts responses by method, route template and status; times each until its headers are sent."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                # The template, not the path: one series per route, whatever the ids.
                template = str(getattr(route, "path", "unmatched"))
                self.metrics.http_requests.inc(scope["method"], template, str(message["status"]))
                self.metrics.http_latency.observe(time.perf_counter() - started, template)
            await send(message)

        await self.app(scope, receive, send_wrapper)
