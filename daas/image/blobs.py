"""OCI blobs on Walrus: storing one as chunks under the publisher's request cap, reading one back verified.

Also the build log's blob: JSON Lines, one object per line, capped to one Walrus blob (its id goes on chain).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import anyio

from daas.errors import BlobIntegrityError
from daas.image.index import BlobEntry, ChunkRef
from daas.walrus.ports import BlobStore

__all__ = [
    "LogLineLike",
    "StoredLog",
    "encode_log",
    "read_blob",
    "read_blob_to",
    "store_blob",
    "store_build_log",
    "store_chunk",
]


async def store_chunk(store: BlobStore, data: bytes) -> ChunkRef:
    """One Walrus blob (`data` must fit the publisher's cap)."""
    stored = await store.store(data)
    # The store hashed `data` itself (`StoredBlob.sha256`): hashing it again would cost a pass over every layer.
    if stored.size != len(data) or len(stored.sha256) != 32:
        return ChunkRef(stored.blob_id, len(data), hashlib.sha256(data).hexdigest())
    return ChunkRef(stored.blob_id, len(data), stored.sha256.hex())


async def store_blob(
    store: BlobStore, data: bytes, media_type: str, *, chunk_bytes: int
) -> BlobEntry:
    """`data` as an OCI blob: stored in order as chunks of at most `chunk_bytes`."""
    if chunk_bytes < 1 or not data:
        raise ValueError("chunk_bytes must be positive and data not empty")
    pieces = [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]
    chunks: list[ChunkRef | None] = [None] * len(pieces)

    async def put(i: int) -> None:
        chunks[i] = await store_chunk(store, pieces[i])

    async with anyio.create_task_group() as tg:
        for i in range(len(pieces)):
            tg.start_soon(put, i)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return BlobEntry(digest, media_type, len(data), tuple(c for c in chunks if c is not None))


class _Digester:
    """Checks the concatenation of chunks against the OCI digest and size."""

    def __init__(self, entry: BlobEntry) -> None:
        self.entry = entry
        self.hash = hashlib.sha256()
        self.count = 0

    def update(self, data: bytes) -> None:
        self.count += len(data)
        if self.count > self.entry.size:
            raise BlobIntegrityError(f"{self.entry.digest}: more than {self.entry.size} bytes")
        self.hash.update(data)

    def finish(self) -> None:
        actual = "sha256:" + self.hash.hexdigest()
        if self.count != self.entry.size or actual != self.entry.digest:
            raise BlobIntegrityError(
                f"{self.entry.digest}: the chunks hold {self.count} bytes with digest {actual}, "
                f"not {self.entry.size} bytes with that digest"
            )


async def read_blob(store: BlobStore, entry: BlobEntry) -> bytes:
    """The OCI blob's bytes, each chunk and the whole checked (`BlobIntegrityError` on any mismatch)."""
    digester = _Digester(entry)
    parts = []
    for chunk in entry.chunks:
        data = await store.read(
            chunk.blob_id,
            expected_sha256=bytes.fromhex(chunk.sha256),
            expected_size=chunk.size,
            max_bytes=chunk.size,
        )
        digester.update(data)
        parts.append(data)
    digester.finish()
    return b"".join(parts)


async def read_blob_to(store: BlobStore, entry: BlobEntry, dest: Path) -> None:
    """Stream the OCI blob into `dest`, which appears only once every check passed."""
    digester = _Digester(entry)
    part = dest.with_name(f".{dest.name}.part")
    try:
        async with await anyio.open_file(part, "wb") as file:
            for chunk in entry.chunks:
                async with store.open_stream(
                    chunk.blob_id,
                    expected_sha256=bytes.fromhex(chunk.sha256),
                    expected_size=chunk.size,
                    max_bytes=chunk.size,
                ) as pieces:
                    async for piece in pieces:
                        digester.update(piece)
                        await file.write(piece)
            digester.finish()
        await anyio.Path(part).replace(dest)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.Path(part).unlink(missing_ok=True)
        raise


# --- the build log ---------------------------------------------------------------------------------------------


class LogLineLike(Protocol):
    """A numbered log line (`daas.db.repos.logs.LogLine` and the `BuildLogLine` row both fit)."""

    @property
    def line_no(self) -> int: ...

    @property
    def stream(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class StoredLog:
    """The log's blob: its id and sha256 go on chain."""

    blob_id: str
    sha256: bytes
    size: int
    lines: int
    omitted_lines: int


def _line(line_no: int, stream: str, text: str) -> bytes:
    record = {"line": line_no, "stream": str(stream), "text": text}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def encode_log(lines: Iterable[LogLineLike], *, max_bytes: int) -> tuple[bytes, int, int]:
    """The log as JSON Lines (`{"line": n, "stream": s, "text": t}`), at most `max_bytes`.

    A longer log keeps its beginning and its end (where the error usually is) and says what was left out in a
    `system` line between them. Returns the bytes, the number of lines kept and the number omitted.
    """
    encoded = [_line(line.line_no, line.stream, line.text) for line in lines]
    total = sum(len(e) for e in encoded)
    if total <= max_bytes:
        return b"".join(encoded), len(encoded), 0
    marker_budget = 200
    budget = max(0, max_bytes - marker_budget) // 2
    head: list[bytes] = []
    used = 0
    for item in encoded:
        if used + len(item) > budget:
            break
        head.append(item)
        used += len(item)
    tail: list[bytes] = []
    used = 0
    for item in reversed(encoded[len(head) :]):
        if used + len(item) > budget:
            break
        tail.append(item)
        used += len(item)
    tail.reverse()
    omitted = len(encoded) - len(head) - len(tail)
    omitted_bytes = total - sum(map(len, head)) - sum(map(len, tail))
    first_omitted = json.loads(encoded[len(head)])["line"]
    marker = _line(
        first_omitted,
        "system",
        f"[{omitted} lines ({omitted_bytes} bytes) omitted: the stored log is capped at {max_bytes} bytes]",
    )
    return b"".join([*head, marker, *tail]), len(head) + len(tail), omitted


async def store_build_log(
    store: BlobStore, lines: Sequence[LogLineLike], *, max_bytes: int
) -> StoredLog:
    """Store the whole log as one Walrus blob (capped, see `encode_log`)."""
    data, kept, omitted = encode_log(lines, max_bytes=max_bytes)
    stored = await store.store(data)
    return StoredLog(stored.blob_id, hashlib.sha256(data).digest(), len(data), kept, omitted)
