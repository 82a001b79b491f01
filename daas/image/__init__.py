"""Built images as OCI images on Walrus: export (with layer reuse), the image index, pull, Kubernetes manifests.

exporter = ImageExporter.from_settings(settings, walrus, MemoryLayerCache())
exported = await exporter.export(executor, built)      # exported.manifest_digest, exported.index_blob_id
await pull_image(walrus, exported.index_blob_id, Path("out"), expected_manifest=exported.manifest_digest)
"""

from __future__ import annotations

from daas.image.blobs import StoredLog, encode_log, read_blob, store_blob, store_build_log
from daas.image.cache import LayerCache, MemoryLayerCache
from daas.image.export import ExportedImage, ImageExporter
from daas.image.index import BlobEntry, ChunkRef, ImageIndex, InvalidImageIndex
from daas.image.pull import PulledImage, fetch_index, pull_image, write_image_tar

__all__ = [
    "BlobEntry",
    "ChunkRef",
    "ExportedImage",
    "ImageExporter",
    "ImageIndex",
    "InvalidImageIndex",
    "LayerCache",
    "MemoryLayerCache",
    "PulledImage",
    "StoredLog",
    "encode_log",
    "fetch_index",
    "pull_image",
    "read_blob",
    "store_blob",
    "store_build_log",
    "write_image_tar",
]
