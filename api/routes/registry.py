"""`/v2`: a read-only OCI distribution API serving the images of succeeded builds from Walrus.

Repositories are named `daas/<request id>`; `latest` is the only tag (the build's one image). Manifests and
blobs are answered for GET and HEAD with their media type, `Docker-Content-Digest` and `Content-Length`.
Anything else under `/v2` gets an OCI error body: unknown names and digests 404, writes 405 (read-only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import ImagesDep, MetricsDep
from api.errors import REGISTRY_RESPONSES, InvalidParameter, RegistryError
from api.images import ImageSource, stream_blob
from api.metrics import ApiMetrics
from api.routes.params import DIGEST_PATTERN, OBJECT_ID_PATTERN
from api.views import normalize_object_id
from daas.image.oci import check_digest

__all__ = ["router"]

router = APIRouter(prefix="/v2", tags=["registry"], responses=REGISTRY_RESPONSES)

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
TAG = "latest"

RepoId = Annotated[
    str,
    Path(
        description="request id of a succeeded build: the repository is `daas/<request id>`",
        pattern=OBJECT_ID_PATTERN,
    ),
]


def _request_id(value: str) -> str:
    try:
        return normalize_object_id(value, param="name")
    except InvalidParameter as exc:
        raise RegistryError(400, "NAME_INVALID", str(exc), name=f"daas/{value[:80]}") from None


def _digest(value: str) -> str:
    try:
        return check_digest(value)
    except ValueError as exc:
        raise RegistryError(400, "DIGEST_INVALID", str(exc)) from None


@router.get(
    "/",
    summary="Registry version check",
    responses={200: {"description": "This is a registry (API version 2); no authentication"}},
)
async def version_check() -> Response:
    return Response(b"{}", media_type="application/json", headers=API_VERSION_HEADER)


_MANIFEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The OCI image manifest, verified against the digest posted on chain",
        "content": {"application/vnd.oci.image.manifest.v1+json": {"schema": {"type": "object"}}},
        "headers": {"Docker-Content-Digest": {"schema": {"type": "string"}}},
    }
}
_BLOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The blob, streamed from Walrus and checked against its digest; a blob that "
        "fails a check ends with a dropped connection, never with wrong bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {"Docker-Content-Digest": {"schema": {"type": "string"}}},
    }
}
Reference = Annotated[
    str,
    Path(
        description="`latest` or `sha256:<hex>` (other tags do not exist)",
        pattern=r"^([A-Za-z0-9_][A-Za-z0-9._-]{0,127}|sha256:[0-9a-f]{64})$",
    ),
]
Digest = Annotated[str, Path(description="`sha256:<hex>`", pattern=DIGEST_PATTERN)]


@router.get(
    "/daas/{request_id}/manifests/{reference}",
    summary="An image manifest, by digest or by the tag `latest`",
    responses=_MANIFEST_RESPONSES,
)
async def get_manifest(
    request_id: RepoId, reference: Reference, images: ImagesDep, metrics: MetricsDep
) -> Response:
    return await _manifest(request_id, reference, images, metrics, head=False)


@router.head(
    "/daas/{request_id}/manifests/{reference}",
    summary="A manifest's headers, without the body",
    responses=_MANIFEST_RESPONSES,
)
async def head_manifest(
    request_id: RepoId, reference: Reference, images: ImagesDep, metrics: MetricsDep
) -> Response:
    return await _manifest(request_id, reference, images, metrics, head=True)


async def _manifest(
    request_id: str, reference: str, images: ImageSource, metrics: ApiMetrics, *, head: bool
) -> Response:
    build_id = _request_id(request_id)
    if ":" in reference:  # a digest; anything else is a tag, and only `latest` exists
        _digest(reference)
    view = await images.image(build_id)
    if reference not in (TAG, view.manifest_digest):
        raise RegistryError(
            404, "MANIFEST_UNKNOWN", f"daas/{build_id} has no manifest {reference}", tag=reference
        )
    headers = _headers(view.manifest_digest, len(view.manifest))
    if head:
        return Response(media_type=view.media_type, headers=headers)
    metrics.registry_bytes.inc("manifest", amount=len(view.manifest))
    return Response(view.manifest, media_type=view.media_type, headers=headers)


@router.get(
    "/daas/{request_id}/blobs/{digest}",
    summary="An image blob (config or layer), by digest",
    responses=_BLOB_RESPONSES,
)
async def get_blob(
    request_id: RepoId, digest: Digest, images: ImagesDep, metrics: MetricsDep
) -> Response:
    return await _blob(request_id, digest, images, metrics, head=False)


@router.head(
    "/daas/{request_id}/blobs/{digest}",
    summary="A blob's headers, without the body",
    responses=_BLOB_RESPONSES,
)
async def head_blob(
    request_id: RepoId, digest: Digest, images: ImagesDep, metrics: MetricsDep
) -> Response:
    return await _blob(request_id, digest, images, metrics, head=True)


async def _blob(
    request_id: str, digest: str, images: ImageSource, metrics: ApiMetrics, *, head: bool
) -> Response:
    build_id = _request_id(request_id)
    wanted = _digest(digest)
    view = await images.image(build_id)
    octets = "application/octet-stream"
    if wanted == view.manifest_digest:
        headers = _headers(wanted, len(view.manifest), octets)
        return Response(b"" if head else view.manifest, headers=headers)
    entry = view.blobs.get(wanted)
    if entry is None:
        raise RegistryError(
            404, "BLOB_UNKNOWN", f"daas/{build_id} has no blob {wanted}", digest=wanted
        )
    headers = _headers(wanted, entry.size)
    if head:
        return Response(media_type=octets, headers=headers)
    body = stream_blob(images.store, entry, metrics)
    # Read the first piece here: a blob missing from Walrus is still a clean error response, not a
    # dropped connection after the headers.
    try:
        first = await anext(body)
    except StopAsyncIteration:
        first = b""
    return StreamingResponse(_prepend(first, body), media_type=octets, headers=headers)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for piece in rest:
        yield piece


def _headers(digest: str, size: int, media_type: str | None = None) -> dict[str, str]:
    headers = {**API_VERSION_HEADER, "Docker-Content-Digest": digest, "Content-Length": str(size)}
    if media_type is not None:
        headers["Content-Type"] = media_type
    return headers


@router.get("/daas/{request_id}/tags/list", summary="Tags of a repository (always `latest`)")
async def tags(request_id: RepoId, images: ImagesDep) -> Response:
    build_id = _request_id(request_id)
    await images.image(build_id)
    body = f'{{"name":"daas/{build_id}","tags":["{TAG}"]}}'.encode()
    return Response(body, media_type="application/json", headers=API_VERSION_HEADER)


@router.api_route(
    "/{path:path}",
    methods=["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def anything_else(request: Request, path: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise RegistryError(
            405, "UNSUPPORTED", "this registry is read-only", headers={"Allow": "GET, HEAD"}
        )
    raise RegistryError(404, "NAME_UNKNOWN", f"no repository or route /v2/{path[:200]}")
