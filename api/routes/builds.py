"""`/v1/builds`: the list (filters, keyset pages), one build, its log as text, a Kubernetes manifest."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from api.deps import EngineDep, SettingsDep, registry_host
from api.errors import PROBLEM_RESPONSES
from api.models import BuildDetail, BuildPage
from api.routes.params import OBJECT_ID_PATTERN, RequestIdPath
from api.views import (
    CURSOR_PATTERN,
    build_detail,
    build_summary,
    decode_cursor,
    encode_cursor,
    normalize_object_id,
)
from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, Build, BuildStatus, BuildStep
from daas.db.repos import artifacts, builds, logs
from daas.db.repos.builds import BuildCursor
from daas.errors import NotFound
from daas.image.kubernetes import kubernetes_manifest

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["builds"], responses=PROBLEM_RESPONSES)

MAX_LOG_LINES = 100_000
MAX_LINE_NO = 2**31 - 1
YAML_MEDIA_TYPE = "application/yaml"


def _json(model: BaseModel, headers: dict[str, str] | None = None) -> Response:
    # Serialised once by pydantic-core; returning the model instead would have FastAPI validate it
    # again against the response model (in a worker thread, for a plain `def` route).
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/builds", summary="List builds, newest first", response_model=BuildPage)
async def list_builds(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    requester: Annotated[
        str | None,
        Query(description="only builds requested by this address", pattern=OBJECT_ID_PATTERN),
    ] = None,
    status: Annotated[BuildStatus | None, Query(description="on-chain status")] = None,
    step: Annotated[BuildStep | None, Query(description="the runner's step")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="builds per page")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            description="opaque position from a previous page's `next` link",
            pattern=CURSOR_PATTERN,
        ),
    ] = None,
) -> Response:
    """Builds in request order, newest first, one page at a time. Follow `next` (also sent as a
    `Link: <...>; rel="next"` header) for the following page; the filters are kept."""
    who = (
        None
        if requester is None
        else normalize_object_id(requester, param="requester", location="query")
    )
    after = None if cursor is None else decode_cursor(cursor)

    def read() -> list[Build]:
        with session_scope(engine) as session:
            return builds.list_builds(
                session, requester=who, status=status, step=step, after=after, limit=limit + 1
            )

    rows = await anyio.to_thread.run_sync(read)
    page, more = rows[:limit], len(rows) > limit
    next_url = None
    headers = {}
    if more:
        token = encode_cursor(BuildCursor.of(page[-1]))
        url = request.url.include_query_params(cursor=token)
        next_url = f"{url.path}?{url.query}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = BuildPage(items=[build_summary(b, settings) for b in page], next=next_url)
    return _json(body, headers)


@router.get(
    "/builds/{request_id}",
    summary="One build: spec, status, step timings, result",
    response_model=BuildDetail,
)
async def get_build(
    request_id: RequestIdPath, settings: SettingsDep, engine: EngineDep
) -> Response:
    """The build with its on-chain spec, the runner's step timings and, once settled, the result with
    its Walrus blob ids and explorer links."""
    build_id = normalize_object_id(request_id, param="request_id")
    host = registry_host(settings)

    def read() -> BuildDetail:
        with session_scope(engine) as session:
            build = builds.get(session, build_id)
            if build is None:
                raise NotFound(f"build {build_id} does not exist")
            return build_detail(session, build, settings, registry_host=host)

    return _json(await anyio.to_thread.run_sync(read))


@router.get(
    "/builds/{request_id}/logs",
    summary="The build log as plain text",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Lines `from` onwards, one per line. `X-Next-Line` is the line to ask "
            "for next (for following a running build).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": {"X-Next-Line": {"schema": {"type": "integer"}}},
        }
    },
)
def get_logs(
    request_id: RequestIdPath,
    engine: EngineDep,
    from_line: Annotated[
        int, Query(alias="from", ge=0, le=MAX_LINE_NO, description="first line number (from 0)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LINES, description="at most this many lines")] = (
        MAX_LOG_LINES
    ),
) -> PlainTextResponse:
    """The lines stored so far (live while the build runs; complete once it is settled)."""
    build_id = normalize_object_id(request_id, param="request_id")
    with session_scope(engine) as session:
        if builds.get(session, build_id) is None:
            raise NotFound(f"build {build_id} does not exist")
        lines = logs.read(session, build_id, from_line=from_line, limit=limit)
    text = "".join(line.text + "\n" for line in lines)
    next_line = lines[-1].line_no + 1 if lines else from_line
    return PlainTextResponse(text, headers={"X-Next-Line": str(next_line)})


@router.get(
    "/builds/{request_id}/kubernetes",
    summary="A Kubernetes Deployment running the built image",
    response_class=Response,
    responses={
        200: {
            "description": "YAML for `kubectl apply -f -`; the image is pulled by digest through "
            "this API's registry",
            "content": {YAML_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
def get_kubernetes(request_id: RequestIdPath, settings: SettingsDep, engine: EngineDep) -> Response:
    """A Deployment (and a Service when the bundle's `daas.toml` exposes a port) for the image of a
    succeeded build, referenced by its on-chain digest: the manifest the runner stored on Walrus (its blob
    id in `X-Walrus-Blob-Id`), or one derived from the build when the runner left none."""
    build_id = normalize_object_id(request_id, param="request_id")
    with session_scope(engine) as session:
        build = builds.get(session, build_id)
        stored = artifacts.get(session, build_id, ArtifactKind.KUBERNETES) if build else None
    if build is None:
        raise NotFound(f"build {build_id} does not exist")
    if build.status is not BuildStatus.SUCCEEDED or not build.image_digest:
        raise NotFound(f"build {build_id} has no image (status {build.status.value})")
    digest = f"sha256:{build.image_digest}"
    # The runner's text is used only if it runs the image the chain names (a later attempt may differ).
    if stored is not None and stored.content and f"@{digest}" in stored.content:
        headers = {"X-Walrus-Blob-Id": stored.blob_id} if stored.blob_id else None
        return Response(stored.content, media_type=YAML_MEDIA_TYPE, headers=headers)
    text = kubernetes_manifest(
        registry_host=registry_host(settings), request_id=build_id, manifest_digest=digest
    )
    return Response(text, media_type=YAML_MEDIA_TYPE)
