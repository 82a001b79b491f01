"""Deterministic gzip for image layers: the same layer tar always gives the same bytes, hence the same digest.

Layer reuse across builds and the reproducibility of an image digest both rest on it. The rules (they are part of
what an image digest means, so changing any of them changes digests):

- one gzip member with a fixed 10-byte header: no file name, no comment, mtime 0, XFL 0, OS 255 (unknown);
- the data is cut into blocks of `BLOCK_BYTES` (1 MiB) of uncompressed input, each compressed on its own
  (raw deflate, zlib level 1, 32 KiB window, no dictionary from the previous block) and ended with a full flush,
  so blocks can be compressed in parallel and concatenated;
- a block whose first `PROBE_BYTES` (16 KiB) do not shrink below 97 % at level 1 is stored instead: written
  here (not by zlib) as stored deflate blocks of 65,535 bytes each, the last one shorter, each a zero byte
  (BFINAL 0, BTYPE 00, padding), LEN and NLEN little-endian, then the bytes. Already-compressed data costs a
  copy, not a futile compression (zlib's level 0 is five times slower, and where it cuts its stored blocks
  depends on the caller's output buffer, so it is no rule to promise);
- an empty final block, then CRC-32 and length (mod 2^32), little-endian.

The output is ordinary gzip for any reader (Go's compress/gzip in dockerd and containerd, `gzip -d`). Bytes can
differ between zlib implementations (zlib-ng, for one); the reference is zlib 1.2/1.3 as shipped by Debian.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

__all__ = [
    "BLOCK_BYTES",
    "GZIP_HEADER",
    "STORED_BYTES",
    "DeterministicGzip",
    "compress_block",
    "gzip_bytes",
    "stored_blocks",
]

BLOCK_BYTES = 1024 * 1024
# Enough to tell compressed or random data from the rest; larger probes cost more than the misjudged blocks.
PROBE_BYTES = 16 * 1024
LEVEL = 1
STORED_RATIO = 0.97
# The most a stored deflate block holds (LEN is 16 bits).
STORED_BYTES = 65535
# ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# A final, empty block with fixed Huffman codes: what zlib writes for Z_FINISH with nothing pending.
_FINAL_BLOCK = b"\x03\x00"


def _deflate(data: bytes | memoryview, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def stored_blocks(block: bytes) -> bytes:
    """`block` as stored (uncompressed) deflate blocks of `STORED_BYTES`, the last one shorter; never final."""
    view = memoryview(block)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(block), STORED_BYTES):
        piece = view[start : start + STORED_BYTES]
        parts.append(struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF))
        parts.append(piece)
    return b"".join(parts)  # one copy, without the GIL for a whole block


def compress_block(block: bytes) -> bytes:
    """One block as raw deflate ending on a byte boundary, never the final block."""
    probe = block[:PROBE_BYTES]
    if len(_deflate(probe, LEVEL)) >= STORED_RATIO * len(probe) and probe:
        return stored_blocks(block)
    return _deflate(block, LEVEL)


class DeterministicGzip:
    """Compresses pushed data (`feed`, then `finish`) or a stream of blocks (`compress`), in parallel when given
    an executor; output comes in order, in pieces.

    `sha256` and `size` describe the compressed output once finished, `uncompressed_size` the input (whose
    digest the caller has already). Block boundaries depend only on the input, never on how it was pushed.
    """

    def __init__(
        self, executor: concurrent.futures.Executor | None = None, window: int = 4
    ) -> None:
        self._executor = executor
        self._window = max(1, window)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.uncompressed_size = 0
        self._crc = 0
        self._started = False
        self._partial = bytearray()
        self._pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()

    def feed(self, data: bytes) -> list[bytes]:
        """Take more input; returns the output that is ready (possibly none)."""
        out = self._start()
        view = memoryview(data)
        if self._partial:  # complete the pending block first
            taken = BLOCK_BYTES - len(self._partial)
            self._partial += view[:taken]
            view = view[taken:]
            if len(self._partial) < BLOCK_BYTES:
                return out
            block = bytes(self._partial)
            self._partial.clear()
            out.extend(self._submit(block))
        # Whole blocks straight from the input: one copy each (none when `data` is exactly one block).
        while len(view) >= BLOCK_BYTES:
            piece = view[:BLOCK_BYTES]
            whole = isinstance(data, bytes) and len(piece) == len(data)
            out.extend(self._submit(data if whole else bytes(piece)))
            view = view[BLOCK_BYTES:]
        if view:
            self._partial += view
        return out

    def finish(self) -> list[bytes]:
        """The rest of the output: pending blocks, the final block and the trailer."""
        out = self._start()
        if self._partial:
            out.extend(self._submit(bytes(self._partial)))
            self._partial.clear()
        while self._pending:
            out.append(self._out(self._pending.popleft().result()))
        trailer = _FINAL_BLOCK + struct.pack("<II", self._crc, self.uncompressed_size & 0xFFFFFFFF)
        out.append(self._out(trailer))
        return out

    def close(self) -> None:
        """Drop pending work (after a failure)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()

    def compress(self, blocks: Iterable[bytes]) -> Iterator[bytes]:
        """The gzip member for the concatenation of `blocks`, piece by piece."""
        try:
            for block in blocks:
                yield from self.feed(block)
            yield from self.finish()
        finally:
            self.close()

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._out(GZIP_HEADER)]

    def _submit(self, block: bytes) -> list[bytes]:
        self._crc = zlib.crc32(block, self._crc)
        self.uncompressed_size += len(block)
        if self._executor is None:
            return [self._out(compress_block(block))]
        self._pending.append(self._executor.submit(compress_block, block))
        out = []
        while len(self._pending) >= self._window:
            out.append(self._out(self._pending.popleft().result()))
        return out

    def _out(self, data: bytes) -> bytes:
        self.sha256.update(data)
        self.size += len(data)
        return data


def read_blocks(file: BinaryIO) -> Iterator[bytes]:
    """`file` in blocks of `BLOCK_BYTES` (the last one shorter)."""
    while block := file.read(BLOCK_BYTES):
        yield block


def gzip_bytes(data: bytes) -> bytes:
    """`data` compressed by the rules above (small inputs, tests)."""
    blocks = (data[i : i + BLOCK_BYTES] for i in range(0, len(data), BLOCK_BYTES))
    return b"".join(DeterministicGzip().compress(blocks))
