"""The blob store seam: what DaaS needs from Walrus, as a Protocol, and the values that cross it.

Services depend on `BlobStore`; `daas.walrus.client.WalrusClient` is its one real implementation (the HTTP
publisher and aggregator). Reads are always verified: pass the expected sha256 and size whenever they are known,
because without them wrong bytes cannot be told from right ones.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from daas.errors import BlobNotFound

BLOB_ID_CHARS = 43
MAX_EPOCHS_AHEAD = 53

ProgressCallback = Callable[[int, int | None], None]
"""`on_progress(bytes_done, bytes_total)`; `bytes_total` is None when unknown. Restarts from 0 on a retry."""

_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclasses.dataclass(frozen=True)
class StoredBlob:
    """The outcome of a store: where the bytes live and until when."""

    blob_id: str
    size: int
    sha256: bytes
    # Storage is paid up to this epoch (exclusive): the blob can be read while the current epoch is lower.
    end_epoch: int
    # True when this call created a Blob object; False when Walrus already had it certified for long enough.
    newly_created: bool
    # The Sui `Blob` object, when the publisher names one (not for an `alreadyCertified` proven by an event).
    object_id: str | None = None
    # FROST paid by the publisher for this call (0 when already certified); gas excluded.
    cost: int = 0


@dataclasses.dataclass(frozen=True)
class BlobDigest:
    """Length and sha256 of bytes that were read and verified."""

    size: int
    sha256: bytes


class BlobStore(Protocol):
    """Content-addressed blob storage (Walrus)."""

    async def store(
        self,
        data: bytes,
        *,
        epochs: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        """Store `data` for `epochs` epochs ahead (default: the configured number)."""
        ...

    async def read(
        self,
        blob_id: str,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> bytes:
        """The blob's bytes, verified against what is expected; never more than `max_bytes`."""
        ...

    def open_stream(
        self,
        blob_id: str,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The blob as chunks, checked as they arrive; the last check (sha256) runs when the stream ends.

        Treat the data as untrusted until iteration finished without an error.
        """
        ...

    async def read_to(
        self,
        blob_id: str,
        dest: Path,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> BlobDigest:
        """Stream the blob into `dest`, which appears only once the bytes are verified."""
        ...

    async def exists(self, blob_id: str) -> bool:
        """Whether the blob can be read now."""
        ...


def check_blob_id(blob_id: str) -> str:
    """`blob_id` if it is a well-formed Walrus blob id, else `BlobNotFound` (no such blob can exist).

    A blob id is 32 bytes as 43 characters of URL-safe base64 without padding. Checking before any request also
    keeps untrusted ids (they come from chain events) out of URL paths.
    """
    ok = bool(_BLOB_ID.match(blob_id))
    if ok:
        try:
            raw = base64.urlsafe_b64decode(blob_id + "=")
            ok = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == blob_id
        except binascii.Error:
            ok = False
    if not ok:
        raise BlobNotFound(
            f"{blob_id!r} is not a Walrus blob id (43 characters of URL-safe base64, no padding)"
        )
    return blob_id
