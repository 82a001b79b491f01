"""`/healthz`: can this API serve? Database reachable, indexer keeping up, a runner alive (503 if not)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ContextDep
from api.models import Health, HealthCheck
from daas.db.engine import check_connection, session_scope
from daas.db.models import now_ms
from daas.db.repos import heartbeats, watermarks
from daas.errors import DatabaseError

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Health: database, indexer watermark lag, runner heartbeat",
    response_model=Health,
    responses={503: {"model": Health, "description": "At least one check failed"}},
)
def healthz(ctx: ContextDep) -> JSONResponse:
    """200 when every check passes, else 503; the body says which check failed and why."""
    checks: dict[str, HealthCheck] = {}
    try:
        check_connection(ctx.engine)
    except DatabaseError as exc:
        checks["database"] = HealthCheck(ok=False, detail=str(exc))
        skipped = HealthCheck(ok=False, detail="not checked: the database is unreachable")
        checks["indexer"] = checks["runner"] = skipped
    else:
        checks["database"] = HealthCheck(ok=True, detail="reachable")
        try:
            checks.update(_progress(ctx))
        except DatabaseError as exc:
            checks["database"] = HealthCheck(ok=False, detail=str(exc))
    checks["events"] = HealthCheck(
        ok=ctx.feed.healthy,
        detail="following new events" if ctx.feed.healthy else "reading new events fails",
    )
    ok = all(check.ok for check in checks.values())
    body = Health(status="ok" if ok else "unhealthy", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


def _progress(ctx: ContextDep) -> dict[str, HealthCheck]:
    policy = ctx.health
    now = now_ms()
    with session_scope(ctx.engine) as session:
        mark = watermarks.get(session, ctx.settings.indexer.pipeline)
        heartbeat_age_ms = heartbeats.freshest_age_ms(session, now_ms=now)
    out: dict[str, HealthCheck] = {}
    limit = policy.max_watermark_lag_s
    if mark is None:
        out["indexer"] = HealthCheck(
            ok=limit is None,
            detail="the indexer has not committed a checkpoint yet",
            threshold=limit,
        )
    else:
        lag_s = max(0.0, (now - mark.timestamp_ms_hi) / 1000)
        ok = limit is None or lag_s <= limit
        out["indexer"] = HealthCheck(
            ok=ok,
            detail=f"checkpoint {mark.checkpoint_hi_inclusive}, {lag_s:.1f} s behind the chain",
            value=round(lag_s, 3),
            threshold=limit,
        )
        ctx.metrics.watermark.set(mark.checkpoint_hi_inclusive)
        ctx.metrics.watermark_lag.set(lag_s)
    limit = policy.max_heartbeat_age_s
    if heartbeat_age_ms is None:
        out["runner"] = HealthCheck(
            ok=limit is None, detail="no runner has reported", threshold=limit
        )
    else:
        age_s = max(0.0, heartbeat_age_ms / 1000)
        ok = limit is None or age_s <= limit
        out["runner"] = HealthCheck(
            ok=ok,
            detail=f"last runner heartbeat {age_s:.1f} s ago",
            value=round(age_s, 3),
            threshold=limit,
        )
        ctx.metrics.runner_heartbeat_age.set(age_s)
    return out
