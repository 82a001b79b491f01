"""SSE: `/v1/builds/{id}/events` (one build; ends after its final event) and `/v1/events` (every build).

See `api.sse` for how a stream resumes without losing or repeating an event, and `api.feed` for how live
events reach every client of this process.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Response

from api.deps import ContextDep
from api.errors import PROBLEM_RESPONSES
from api.routes.params import MAX_EVENT_ID, RequestIdPath
from api.sse import EventStream, FeedResponse
from api.views import normalize_object_id
from daas.db.engine import session_scope
from daas.db.repos import builds, events
from daas.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["events"], responses=PROBLEM_RESPONSES)

_STREAM_DOC = (
    "`text/event-stream`. Each event: `id:` the global event id, `event:` its kind "
    "(`status`, `step`, `log`, `result`), `data:` JSON (schema `EventData`). Comment lines "
    "(`: ping`) keep the connection alive."
)

LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        le=MAX_EVENT_ID,
        description="resume after this event id (sent by EventSource on reconnect); wins over `after`",
    ),
]
After = Annotated[
    int | None,
    Query(ge=0, le=MAX_EVENT_ID, description="resume after this event id (when no Last-Event-ID)"),
]


def _cursor(last_event_id: int | None, after: int | None) -> int | None:
    return last_event_id if last_event_id is not None else after


@router.get(
    "/builds/{request_id}/events",
    summary="Live events of one build (SSE)",
    response_class=FeedResponse,
    status_code=200,
    responses={
        200: {"description": _STREAM_DOC, "content": {"text/event-stream": {"schema": {"type": "string", "description": "events; each `data:` is an `EventData`"}}}},
        204: {"description": "The build is settled, no runner holds it, and the client already has its "
              "every event: EventSource stops reconnecting"},
    },
)  # fmt: skip
async def build_events(
    request_id: RequestIdPath,
    ctx: ContextDep,
    last_event_id: LastEventId = None,
    after: After = None,
) -> Response:
    """Every event of the build after the cursor (from its first without one), then live events; the
    stream ends after the build's final event (a final on-chain status) and its runner's last ones."""
    build_id = normalize_object_id(request_id, param="request_id")
    cursor = _cursor(last_event_id, after) or 0

    def check() -> bool:
        with session_scope(ctx.engine) as session:
            build = builds.get(session, build_id)
            if build is None:
                raise NotFound(f"build {build_id} does not exist")
            settled = build.status.is_final and builds.released(session, build_id)
            return settled and events.last_id(session, build_id) <= cursor

    if await anyio.to_thread.run_sync(check):
        return Response(status_code=204)
    stream = EventStream(ctx.engine, ctx.feed, ctx.metrics, build_id=build_id, after=cursor)
    return _response(ctx, stream)


@router.get(
    "/events",
    summary="Live events of every build (SSE)",
    response_class=FeedResponse,
    status_code=200,
    responses={
        200: {"description": _STREAM_DOC, "content": {"text/event-stream": {"schema": {"type": "string", "description": "events; each `data:` is an `EventData`"}}}},
    },
)  # fmt: skip
async def all_events(
    ctx: ContextDep, last_event_id: LastEventId = None, after: After = None
) -> Response:
    """Events of all builds after the cursor, then live. Without a cursor the stream starts at the
    newest event: only what happens from now on."""
    cursor = _cursor(last_event_id, after)
    replay = cursor is not None
    if cursor is None:

        def newest() -> int:
            with session_scope(ctx.engine) as session:
                return events.last_id(session)

        cursor = await anyio.to_thread.run_sync(newest)
    stream = EventStream(
        ctx.engine, ctx.feed, ctx.metrics, build_id=None, after=cursor, replay=replay
    )
    return _response(ctx, stream)


def _response(ctx: ContextDep, stream: EventStream) -> FeedResponse:
    return FeedResponse(
        stream,
        ping_s=ctx.settings.api.sse_ping_s,
        send_timeout_s=ctx.settings.api.sse_send_timeout_s,
        metrics=ctx.metrics,
    )
