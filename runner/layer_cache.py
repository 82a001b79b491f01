"""`DbLayerCache`: the exporter's `LayerCache` in the database, so every runner reuses every stored layer.

The rows live in `layer_blobs` (`daas.db.repos.layers`). A row that does not decode as a `BlobEntry` is
treated as absent (the layer is stored again and the row replaced); the exporter checks that a row's chunks
still exist on Walrus before reusing them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import sqlalchemy as sa

from daas.db.engine import session_scope
from daas.db.repos import layers
from daas.image.cache import CachedLayer, LayerCache
from daas.image.index import BlobEntry, ChunkRef

__all__ = ["DbLayerCache"]

log = logging.getLogger(__name__)


class DbLayerCache:
    """Stored layers by diff id, in the `layer_blobs` table of `engine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    async def get(self, diff_id: str) -> CachedLayer | None:
        return await anyio.to_thread.run_sync(self._get, diff_id)

    async def put(self, diff_id: str, layer: CachedLayer) -> None:
        await anyio.to_thread.run_sync(self._put, diff_id, layer)

    def _get(self, diff_id: str) -> CachedLayer | None:
        with session_scope(self._engine) as session:
            row = layers.get(session, diff_id)
            if row is None:
                return None
            try:
                entry = BlobEntry(
                    row.digest,
                    row.media_type,
                    row.size,
                    tuple(_chunk(c) for c in row.chunks),
                )
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring the malformed layer cache row %s: %s", diff_id, exc)
                return None
            layers.mark_used(session, diff_id)
            session.commit()
            return CachedLayer(entry, row.tar_size)

    def _put(self, diff_id: str, layer: CachedLayer) -> None:
        entry = layer.entry
        with session_scope(self._engine) as session:
            layers.put(
                session,
                diff_id,
                digest=entry.digest,
                media_type=entry.media_type,
                size=entry.size,
                tar_size=layer.tar_size,
                chunks=[chunk.to_json() for chunk in entry.chunks],
            )
            session.commit()


def _chunk(data: dict[str, Any]) -> ChunkRef:
    return ChunkRef(str(data["blobId"]), int(data["size"]), str(data["sha256"]))


if TYPE_CHECKING:

    def _implements_layer_cache(cache: DbLayerCache) -> LayerCache:
        return cache  # mypy proves the class satisfies the Protocol
