"""A streaming reader for untrusted `.tar.gz` bundles.

Written for hostile input rather than borrowed from `tarfile`: every allocation is bounded (decompressed output is
capped, extended headers are limited to 64 KiB, headers are read one 512-byte block at a time), every ambiguity is
refused rather than guessed (non-zero sizes on directories and links, global headers that rename entries, sparse
files, data after the end of the archive), and each refusal is a `RequesterFault` naming the entry.

Accepted: gzip (one or more members) around a POSIX ustar / pax archive or a GNU tar archive (`L`/`K` long names).
The reader only parses; `daas.bundle.unpack` decides what may be created.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import BinaryIO

from daas.errors import BuildFailureCode, RequesterFault

__all__ = ["CHUNK_SIZE", "GzipStream", "TarMember", "TarReader"]

CHUNK_SIZE = 1024 * 1024
BLOCK = 512
GZIP_MAGIC = b"\x1f\x8b"
MAX_META_BYTES = 64 * 1024
MAX_META_HEADERS = 8  # extended headers in a row before one entry
# bgzip-style files have one member per 64 KiB; thousands of empty members would only burn CPU.
MAX_GZIP_MEMBERS = 65536

_KINDS = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",  # contiguous file: a regular file everywhere that matters
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "character device",
    b"4": "block device",
    b"5": "dir",
    b"6": "fifo",
}
_META = {b"x", b"g", b"L", b"K"}
_STRUCTURAL_PAX_KEYS = {"path", "linkpath", "size"}


def _malformed(message: str) -> RequesterFault:
    return RequesterFault(BuildFailureCode.BUNDLE_MALFORMED, message)


class GzipStream:
    """Decompresses a gzip file incrementally, refusing to produce more than `max_output` bytes."""

    def __init__(self, raw: BinaryIO, *, max_output: int) -> None:
        self._raw = raw
        self._max_output = max_output
        self.total_out = 0
        self._buffer = memoryview(b"")
        first = raw.read(CHUNK_SIZE)
        if not first.startswith(GZIP_MAGIC):
            raise _malformed("not a gzip stream: a bundle is a gzip-compressed tar archive")
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members = 1
        self._first: bytes | None = first

    def _produce(self) -> bytes:
        """The next piece of decompressed data; b"" once the last gzip member has ended."""
        d = self._decompressor
        try:
            while True:
                if self._first is not None:
                    data, self._first = self._first, None
                    out = d.decompress(data, CHUNK_SIZE)
                elif d.unconsumed_tail:
                    out = d.decompress(d.unconsumed_tail, CHUNK_SIZE)
                elif d.eof:
                    rest = d.unused_data or self._raw.read(CHUNK_SIZE)
                    if not rest:
                        return b""
                    if len(rest) < 2:
                        rest += self._raw.read(1)
                    if not rest.startswith(GZIP_MAGIC):
                        raise _malformed("data follows the end of the gzip stream")
                    self._members += 1
                    if self._members > MAX_GZIP_MEMBERS:
                        raise _malformed(
                            f"the gzip stream has more than {MAX_GZIP_MEMBERS} members"
                        )
                    d = self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    out = d.decompress(rest, CHUNK_SIZE)
                else:
                    data = self._raw.read(CHUNK_SIZE)
                    if not data:
                        raise _malformed("the gzip stream is truncated")
                    out = d.decompress(data, CHUNK_SIZE)
                if out:
                    self.total_out += len(out)
                    if self.total_out > self._max_output:
                        raise RequesterFault(
                            BuildFailureCode.BUNDLE_TOO_LARGE,
                            f"the bundle decompresses to more than {self._max_output} bytes",
                        )
                    return out
        except zlib.error as exc:
            raise _malformed(f"the gzip stream is corrupt: {exc}") from None

    def read(self, size: int) -> memoryview:
        """Up to `size` bytes (at least one unless the stream has ended)."""
        if not self._buffer:
            self._buffer = memoryview(self._produce())
        piece = self._buffer[:size]
        self._buffer = self._buffer[len(piece) :]
        return piece

    def read_exact(self, size: int, what: str) -> bytes:
        parts = []
        missing = size
        while missing:
            piece = self.read(missing)
            if not piece:
                raise _malformed(f"the tar archive is truncated in {what}")
            parts.append(bytes(piece))
            missing -= len(piece)
        return b"".join(parts)


@dataclass(frozen=True)
class TarMember:
    """One entry as its headers describe it; `name` and `linkname` are decoded but not yet judged."""

    index: int
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "fifo", "... device" or "type 'X'"
    mode: int
    size: int
    mtime: int
    linkname: str


def _number(field: bytes, what: str, index: int) -> int:
    if field[:1] == b"\xff":
        raise _malformed(f"entry #{index} has a negative {what}")
    if field[:1] == b"\x80":  # GNU base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    if any(c not in b"01234567" for c in text):
        raise _malformed(f"entry #{index} has a malformed {what} field {field!r}")
    return int(text, 8)


def _text(data: bytes, what: str, index: int, *, code: BuildFailureCode) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequesterFault(
            code, f"entry #{index} has a {what} that is not valid UTF-8: {data!r}"
        ) from None


def _parse_pax(data: bytes, index: int) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 12)
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise _malformed(f"entry #{index} has a malformed pax record at byte {pos}")
        length = int(length_text)
        record = data[pos : pos + length]
        if len(record) != length or length <= space - pos + 1 or not record.endswith(b"\n"):
            raise _malformed(f"entry #{index} has a malformed pax record at byte {pos}")
        key, equals, value = record[space - pos + 1 : -1].partition(b"=")
        if not equals:
            raise _malformed(f"entry #{index} has a pax record without '=' at byte {pos}")
        records[_text(key, "pax key", index, code=BuildFailureCode.BUNDLE_MALFORMED)] = value
        pos += length
    return records


class TarReader:
    """Iterates over a tar stream's entries; the data of a file entry is read with `read_data`."""

    def __init__(self, stream: GzipStream) -> None:
        self._stream = stream
        self._index = 0
        self._remaining = 0  # data bytes of the current entry not yet read
        self._padding = 0
        self._ended = False

    def _skip_current(self) -> None:
        while self._remaining:
            piece = self._stream.read(min(self._remaining, CHUNK_SIZE))
            if not piece:
                raise _malformed(f"the tar archive is truncated in entry #{self._index}'s data")
            self._remaining -= len(piece)
        if self._padding:
            self._stream.read_exact(self._padding, f"entry #{self._index}'s padding")
            self._padding = 0

    def read_data(self, size: int) -> memoryview:
        """Up to `size` bytes of the current entry's data; an empty view once it is all read."""
        if not self._remaining:
            return memoryview(b"")
        piece = self._stream.read(min(size, self._remaining))
        if not piece:
            raise _malformed(f"the tar archive is truncated in entry #{self._index}'s data")
        self._remaining -= len(piece)
        return piece

    def _read_header(self) -> bytes | None:
        first = self._stream.read(BLOCK)
        if not first:
            return None  # end of stream exactly at a block boundary: accepted, as tar tools do
        block = bytes(first)
        if len(block) < BLOCK:
            block += self._stream.read_exact(BLOCK - len(block), f"header #{self._index + 1}")
        return block

    def next(self) -> TarMember | None:
        """The next entry, or None at the end of the archive."""
        if self._ended:
            return None
        self._skip_current()
        overrides: dict[str, bytes] = {}
        metas = 0
        while True:
            block = self._read_header()
            self._index += 1
            index = self._index
            if block is None or block == bytes(BLOCK):
                if metas:
                    raise _malformed(f"entry #{index} is an extended header with no entry after it")
                self._ended = True
                return None
            flavour = self._check_header(block, index)
            typeflag = block[156:157]
            size = _number(block[124:136], "size", index)
            if typeflag in _META:
                metas += 1
                if metas > MAX_META_HEADERS:
                    raise _malformed(
                        f"entry #{index}: more than {MAX_META_HEADERS} extended headers in a row"
                    )
                if size > MAX_META_BYTES:
                    raise _malformed(f"entry #{index} has an extended header larger than 64 KiB")
                data = self._stream.read_exact(size, f"entry #{index}'s extended header")
                self._stream.read_exact(-size % BLOCK, f"entry #{index}'s padding")
                self._apply_meta(typeflag, data, overrides, index)
                continue
            return self._member(flavour, block, typeflag, size, overrides, index)

    def _check_header(self, block: bytes, index: int) -> str:
        """Validates magic and checksum; returns "posix" or "gnu"."""
        if block[257:263] == b"ustar\x00":
            flavour = "posix"
        elif block[257:265] == b"ustar  \x00":
            flavour = "gnu"
        elif index == 1:
            raise _malformed("not a tar archive: the first header has no ustar magic")
        else:
            raise _malformed(f"entry #{index} is not a ustar header")
        stored = _number(block[148:156], "checksum", index)
        unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
        signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
        if stored not in (unsigned, signed):
            raise _malformed(f"entry #{index} has a bad header checksum")
        return flavour

    def _apply_meta(
        self, typeflag: bytes, data: bytes, overrides: dict[str, bytes], index: int
    ) -> None:
        if typeflag in (b"L", b"K"):
            overrides["path" if typeflag == b"L" else "linkpath"] = data.rstrip(b"\x00")
            return
        records = _parse_pax(data, index)
        if typeflag == b"g":
            # git archive writes a comment here; anything that renames or resizes entries is refused.
            touched = _STRUCTURAL_PAX_KEYS.intersection(records)
            if touched:
                raise _malformed(f"entry #{index}: a global pax header sets {sorted(touched)}")
            return
        for key in records:
            if key.startswith("GNU.sparse."):
                raise RequesterFault(
                    BuildFailureCode.BUNDLE_UNSAFE_ENTRY,
                    f"entry #{index} is a sparse file, which bundles cannot hold",
                )
        overrides.update(records)

    def _member(
        self,
        flavour: str,
        block: bytes,
        typeflag: bytes,
        size: int,
        overrides: dict[str, bytes],
        index: int,
    ) -> TarMember:
        malformed = BuildFailureCode.BUNDLE_MALFORMED
        unsafe = BuildFailureCode.BUNDLE_UNSAFE_PATH
        raw_name = overrides.get("path")
        if raw_name is None:
            raw_name = block[0:100].split(b"\x00", 1)[0]
            prefix = block[345:500].split(b"\x00", 1)[0]
            if flavour == "posix" and prefix:
                raw_name = prefix + b"/" + raw_name
        raw_link = overrides.get("linkpath")
        if raw_link is None:
            raw_link = block[157:257].split(b"\x00", 1)[0]
        name = _text(raw_name, "name", index, code=unsafe)
        if not name:
            raise _malformed(f"entry #{index} has an empty name")
        if "\x00" in name:
            raise RequesterFault(unsafe, f"entry #{index} has a name with a NUL byte: {name!r}")
        linkname = _text(raw_link, "link target", index, code=unsafe)
        if "size" in overrides:
            size_text = overrides["size"]
            if not size_text.isdigit():
                raise _malformed(f"entry #{index} has a malformed pax size {size_text!r}")
            size = int(size_text)
        mtime = _number(block[136:148], "mtime", index)
        if "mtime" in overrides:
            try:
                mtime = int(float(_text(overrides["mtime"], "pax mtime", index, code=malformed)))
            except (ValueError, OverflowError):
                raise _malformed(f"entry #{index} has a malformed pax mtime") from None
        kind = _KINDS.get(typeflag, f"type {typeflag.decode('latin-1')!r}")
        if kind == "file" and typeflag == b"\x00" and name.endswith("/"):
            kind = "dir"  # pre-POSIX tars mark directories by a trailing slash only
        if size and kind in ("dir", "symlink"):
            raise _malformed(f"entry #{index} ({name!r}) is a {kind} with {size} bytes of data")
        # Data of entries the caller refuses is still skipped correctly, should it go on reading.
        self._remaining = size
        self._padding = -size % BLOCK
        return TarMember(
            index=index,
            name=name,
            kind=kind,
            mode=_number(block[100:108], "mode", index),
            size=size if kind == "file" else 0,
            mtime=mtime,
            linkname=linkname,
        )

    def finish(self) -> None:
        """Consume what follows the end-of-archive marker: only zero padding may remain."""
        if not self._ended:
            raise RuntimeError("finish() before the end of the archive")
        while True:
            piece = self._stream.read(CHUNK_SIZE)
            if not piece:
                return
            if bytes(piece).count(0) != len(piece):
                raise _malformed("data follows the end of the tar archive")
