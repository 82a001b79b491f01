"""`/metrics`: the API's Prometheus metrics, with database gauges refreshed at each scrape."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import ContextDep
from api.views import build_counts
from daas.db.engine import session_scope
from daas.db.models import BuildStatus, now_ms
from daas.db.repos import heartbeats, watermarks
from daas.errors import DatabaseError

__all__ = ["router"]

router = APIRouter(tags=["operations"])
_log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(ctx: ContextDep) -> PlainTextResponse:
    """Text exposition format 0.0.4: HTTP requests, SSE clients and events, feed delay, registry bytes,
    builds by status, the indexer's watermark and lag, the freshest runner heartbeat's age (the last three
    read from the database at each scrape, so they never depend on `/healthz` having been called)."""
    m = ctx.metrics
    now = now_ms()
    try:
        with session_scope(ctx.engine) as session:
            counts = build_counts(session)
            mark = watermarks.get(session, ctx.settings.indexer.pipeline)
            heartbeat_age_ms = heartbeats.freshest_age_ms(session, now_ms=now)
    except DatabaseError as exc:
        _log.warning("metrics: cannot read the database: %s", exc)
    else:
        for status in BuildStatus:
            m.builds.set(counts.get(status, 0), status.value)
        if mark is not None:
            m.watermark.set(mark.checkpoint_hi_inclusive)
            m.watermark_lag.set(max(0.0, (now - mark.timestamp_ms_hi) / 1000))
        if heartbeat_age_ms is not None:
            m.runner_heartbeat_age.set(max(0.0, heartbeat_age_ms / 1000))
    return PlainTextResponse(m.registry.render(), headers={"Content-Type": CONTENT_TYPE})
