"""Which layers are already on Walrus: the `LayerCache` seam and an in-memory implementation.

Keyed by a layer's diff id (the sha256 of its uncompressed tar, which the engine knows before any export), so a
layer found here is neither compressed nor uploaded again: a second build on the same base stores only its new
layers. Compression is deterministic, so the entry's digest is what compressing the layer again would give.

Walrus blobs expire: the exporter checks that a cached entry's chunks still exist before it reuses them.
An entry also records the size of the uncompressed layer tar: a layer of another size in a `docker save` archive
cannot be a cached one, so the exporter can stream it to Walrus while reading it instead of spooling it first.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

from daas.image.index import BlobEntry

__all__ = ["CachedLayer", "LayerCache", "MemoryLayerCache"]


@dataclasses.dataclass(frozen=True)
class CachedLayer:
    """A stored layer: the compressed OCI blob and its chunks, and the size of the uncompressed tar."""

    entry: BlobEntry
    tar_size: int


class LayerCache(Protocol):
    """Stored layers by diff id (`sha256:<hex>` of the uncompressed layer tar)."""

    async def get(self, diff_id: str) -> CachedLayer | None:
        """The stored, compressed layer (digest, size, ordered chunks), or None."""
        ...

    async def put(self, diff_id: str, layer: CachedLayer) -> None:
        """Remember where a layer was stored; a later `put` for the same diff id replaces the entry."""
        ...


class MemoryLayerCache:
    """A `LayerCache` in a dict: for one process (tests, `daas dev`); the runner's lives in the database."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedLayer] = {}

    async def get(self, diff_id: str) -> CachedLayer | None:
        return self._entries.get(diff_id)

    async def put(self, diff_id: str, layer: CachedLayer) -> None:
        self._entries[diff_id] = layer

    def __len__(self) -> int:
        return len(self._entries)


if TYPE_CHECKING:

    def _implements_layer_cache(cache: MemoryLayerCache) -> LayerCache:
        return cache  # mypy proves the class satisfies the Protocol
