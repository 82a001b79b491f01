"""Walrus blob storage: the `BlobStore` seam and its HTTP client.

async with WalrusClient.from_settings(settings) as walrus:
    stored = await walrus.store(data)
    same = await walrus.read(stored.blob_id, expected_sha256=stored.sha256, expected_size=stored.size)
"""

from __future__ import annotations

from daas.walrus.client import WalrusClient
from daas.walrus.ports import BlobDigest, BlobStore, ProgressCallback, StoredBlob, check_blob_id
from daas.walrus.retry import RetryPolicy

__all__ = [
    "BlobDigest",
    "BlobStore",
    "ProgressCallback",
    "RetryPolicy",
    "StoredBlob",
    "WalrusClient",
    "check_blob_id",
]
