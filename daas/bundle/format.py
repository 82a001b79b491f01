"""The canonical bundle encoding: byte-exact tar headers and a gzip container of stored DEFLATE blocks.

Everything here is specified in `docs/bundle.md`, which a browser implementation follows to produce the same bytes.
The encoding deliberately uses no compression: the output of a real DEFLATE compressor differs between zlib,
zlib-ng, Chromium's zlib and browsers' CompressionStream, and the bundle's sha256 is recorded on chain, so the same
files must give the same bytes everywhere. Stored blocks keep the `.tar.gz` container (any tool reads it, the
runner's reader is the same for bundles from `tar czf`) at memcpy speed.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import IO

from daas.bundle.paths import EntryKind

__all__ = [
    "BLOCK_SIZE",
    "DIR_MODE",
    "EXEC_MODE",
    "FILE_MODE",
    "GZIP_HEADER",
    "STORED_BLOCK_MAX",
    "SYMLINK_MODE",
    "CanonicalGzipWriter",
    "end_of_archive",
    "entry_header",
]

BLOCK_SIZE = 512
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
SYMLINK_MODE = 0o777
NAME_FIELD = 100
LINK_FIELD = 100
MAX_USTAR_SIZE = 8**11 - 1  # what an 11-digit octal size field holds (8 GiB - 1)
PAX_HEADER_NAME = b"././@PaxHeader"

# magic 1f 8b, CM 8 (deflate), FLG 0, MTIME 0, XFL 0, OS 255 (unknown)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
STORED_BLOCK_MAX = 0xFFFF
# A non-final stored block of 65535 bytes: BFINAL=0 BTYPE=00, LEN=0xffff, NLEN=0x0000 (little-endian).
_FULL_BLOCK_HEADER = b"\x00\xff\xff\x00\x00"

_TYPEFLAGS = {EntryKind.FILE: b"0", EntryKind.DIR: b"5", EntryKind.SYMLINK: b"2"}


def _octal(value: int, width: int) -> bytes:
    """A zero-padded octal number of `width - 1` digits followed by NUL."""
    return b"%0*o\x00" % (width - 1, value)


def _ustar_block(name: bytes, mode: int, size: int, typeflag: bytes, linkname: bytes) -> bytes:
    header = bytearray(BLOCK_SIZE)
    header[0 : len(name)] = name
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(0, 8)  # uid
    header[116:124] = _octal(0, 8)  # gid
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(0, 12)  # mtime
    header[148:156] = b" " * 8  # the checksum is computed over spaces in its own field
    header[156:157] = typeflag
    header[157 : 157 + len(linkname)] = linkname
    header[257:263] = b"ustar\x00"
    header[263:265] = b"00"
    # uname (265:297) and gname (297:329) stay empty
    header[329:337] = _octal(0, 8)  # devmajor
    header[337:345] = _octal(0, 8)  # devminor
    # prefix (345:500) stays empty
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def _pax_record(key: bytes, value: bytes) -> bytes:
    # "%d %s=%s\n" where the decimal length counts the whole record, itself included.
    body = len(key) + len(value) + 3
    length = body + len(str(body))
    while length != body + len(str(length)):
        length = body + len(str(length))
    return b"%d %s=%s\n" % (length, key, value)


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % BLOCK_SIZE)


def entry_header(path: str, kind: EntryKind, *, mode: int, size: int, target: str | None) -> bytes:
    """The header block(s) of one entry: a pax extended header first when a name does not fit ustar."""
    if size > MAX_USTAR_SIZE:
        raise ValueError(f"{path!r} is larger than {MAX_USTAR_SIZE} bytes")
    name = path.encode("utf-8") + (b"/" if kind is EntryKind.DIR else b"")
    linkname = (target or "").encode("utf-8")
    records = b""
    if len(linkname) > LINK_FIELD:
        records += _pax_record(b"linkpath", linkname)
    if len(name) > NAME_FIELD:
        records += _pax_record(b"path", name)
    header = b""
    if records:
        header = _ustar_block(PAX_HEADER_NAME, 0, len(records), b"x", b"")
        header += records + _padding(len(records))
    return header + _ustar_block(
        name[:NAME_FIELD], mode, size, _TYPEFLAGS[kind], linkname[:LINK_FIELD]
    )


def file_padding(size: int) -> bytes:
    return _padding(size)


def end_of_archive() -> bytes:
    return b"\x00" * (2 * BLOCK_SIZE)


class CanonicalGzipWriter:
    """Wraps a tar byte stream in gzip using only stored DEFLATE blocks, hashing what it writes.

    The tar stream is cut into blocks of exactly 65535 bytes; the last block holds the remainder (1 to 65535
    bytes) and is the only one marked final.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._pending = bytearray()
        self._crc = 0
        self._isize = 0
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._closed = False
        self._emit(GZIP_HEADER)

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        self._out.write(data)
        self._sha256.update(data)
        self.size += len(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._isize += len(data)
        pending = self._pending
        pending += data
        # Keep at least one byte back: the last block must be the one marked final.
        full = (len(pending) - 1) // STORED_BLOCK_MAX
        if full:
            out = bytearray()
            with memoryview(pending) as view:
                for k in range(full):
                    out += _FULL_BLOCK_HEADER
                    out += view[k * STORED_BLOCK_MAX : (k + 1) * STORED_BLOCK_MAX]
            del pending[: full * STORED_BLOCK_MAX]
            self._emit(out)

    def close(self) -> bytes:
        """Write the final block and the trailer; return the sha256 of everything written."""
        if not self._closed:
            self._closed = True
            length = len(self._pending)
            self._emit(struct.pack("<BHH", 1, length, length ^ 0xFFFF) + self._pending)
            self._pending.clear()
            self._emit(struct.pack("<II", self._crc & 0xFFFFFFFF, self._isize & 0xFFFFFFFF))
        return self._sha256.digest()
