"""`/metrics`: the API's Prometheus metrics, with database gauges refreshed at each scrape."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import ContextDep
from api.views import build_counts
from daas.db.engine import session_scope
from daas.db.models import BuildStatus
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
    builds by status."""
    m = ctx.metrics
    try:
        with session_scope(ctx.engine) as session:
            counts = build_counts(session)
    except DatabaseError as exc:
        _log.warning("metrics: cannot count builds: %s", exc)
    else:
        for status in BuildStatus:
            m.builds.set(counts.get(status, 0), status.value)
    return PlainTextResponse(m.registry.render(), headers={"Content-Type": CONTENT_TYPE})
