"""Built images as the registry serves them: resolved from a build row through its image index on Walrus.

Only a build that SUCCEEDED on chain has an image, and only the manifest digest posted on chain is trusted: the
index (read from Walrus) must name that manifest, the manifest's bytes must hash to it, and every blob served
is one the manifest lists, streamed chunk by chunk with each chunk's sha256 and the blob's digest checked.
The last piece of a blob is held back until every check passed, so a client can never receive a complete body
with wrong bytes: on a mismatch the response is aborted (the connection drops) instead.

Resolved images are kept in a small LRU cache: a settled build's image never changes.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Mapping

import anyio
import sqlalchemy as sa

from api.errors import RegistryError
from api.metrics import ApiMetrics
from daas.db.engine import session_scope
from daas.db.models import Build, BuildStatus
from daas.db.repos import builds
from daas.errors import BlobIntegrityError
from daas.image import BlobEntry, fetch_index, read_blob
from daas.image.oci import MANIFEST_MEDIA_TYPE, check_digest
from daas.walrus.ports import BlobStore

__all__ = ["ImageSource", "ImageView", "stream_blob"]

CACHE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class ImageView:
    """An image whose manifest was verified against the digest posted on chain."""

    request_id: str
    manifest_digest: str
    manifest: bytes
    media_type: str
    # The blobs the manifest lists (config and layers), by digest.
    blobs: Mapping[str, BlobEntry]


class ImageSource:
    """Finds and verifies the image of a build (see the module docstring)."""

    def __init__(self, engine: sa.Engine, store: BlobStore, metrics: ApiMetrics) -> None:
        self._engine = engine
        self._store = store
        self._metrics = metrics
        self._cache: collections.OrderedDict[tuple[str, str, str], ImageView] = (
            collections.OrderedDict()
        )

    @property
    def store(self) -> BlobStore:
        return self._store

    async def image(self, request_id: str) -> ImageView:
        """The verified image of a build; `RegistryError` (404) when it has none."""
        build = await anyio.to_thread.run_sync(self._build, request_id)
        if build is None:
            raise RegistryError(
                404, "NAME_UNKNOWN", f"no build {request_id}", name=f"daas/{request_id}"
            )
        if (
            build.status is not BuildStatus.SUCCEEDED
            or not build.image_digest
            or not build.image_index_blob_id
        ):
            raise RegistryError(
                404,
                "MANIFEST_UNKNOWN",
                f"build {request_id} has no image (status {build.status.value})",
            )
        key = (request_id, build.image_index_blob_id, build.image_digest)
        view = self._cache.get(key)
        if view is None:
            view = await self._resolve(request_id, build.image_index_blob_id, build.image_digest)
            self._cache[key] = view
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return view

    def _build(self, request_id: str) -> Build | None:
        with session_scope(self._engine) as session:
            return builds.get(session, request_id)

    async def _resolve(self, request_id: str, index_blob_id: str, digest_hex: str) -> ImageView:
        expected = check_digest("sha256:" + digest_hex)
        index = await fetch_index(self._store, index_blob_id)
        if index.manifest != expected:
            raise BlobIntegrityError(
                f"the image index {index_blob_id} describes manifest {index.manifest}, "
                f"but the chain says {expected}"
            )
        manifest = await read_blob(self._store, index.manifest_entry)  # checked against its digest
        try:
            document = json.loads(manifest)
            media_type = str(document.get("mediaType") or MANIFEST_MEDIA_TYPE)
            descriptors = [document["config"], *document["layers"]]
            wanted = {check_digest(str(d["digest"])): int(d["size"]) for d in descriptors}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BlobIntegrityError(f"the manifest {expected} is not an image manifest") from exc
        blobs = {}
        for digest, size in wanted.items():
            entry = index.blobs.get(digest)
            if entry is None or entry.size != size:
                raise BlobIntegrityError(
                    f"the image index {index_blob_id} does not hold {digest} ({size} bytes)"
                )
            blobs[digest] = entry
        return ImageView(request_id, expected, manifest, media_type, blobs)


async def stream_blob(
    store: BlobStore, entry: BlobEntry, metrics: ApiMetrics
) -> AsyncIterator[bytes]:
    """The OCI blob's bytes from its Walrus chunks; raises `BlobIntegrityError` before the last piece if any
    check fails (see the module docstring)."""
    digest = hashlib.sha256()
    count = 0
    pending: bytes | None = None
    for chunk in entry.chunks:
        async with store.open_stream(
            chunk.blob_id,
            expected_sha256=bytes.fromhex(chunk.sha256),
            expected_size=chunk.size,
            max_bytes=chunk.size,
        ) as pieces:
            async for piece in pieces:
                count += len(piece)
                if count > entry.size:
                    raise BlobIntegrityError(f"{entry.digest}: more than {entry.size} bytes")
                digest.update(piece)
                if pending is not None:
                    metrics.registry_bytes.inc("blob", amount=len(pending))
                    yield pending
                pending = piece
    actual = "sha256:" + digest.hexdigest()
    if count != entry.size or actual != entry.digest:
        metrics.registry_integrity_failures.inc()
        raise BlobIntegrityError(
            f"{entry.digest}: Walrus served {count} bytes with digest {actual}; "
            "the response was aborted"
        )
    if pending is not None:
        metrics.registry_bytes.inc("blob", amount=len(pending))
        yield pending
