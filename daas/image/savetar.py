"""Reading a `docker save` tar in one streaming pass: the image config, the layer order, and the layers.

Two layouts exist. dockerd up to 24 writes the legacy one: `manifest.json` (`[{"Config": "<id>.json",
"Layers": ["<v1 id>/layer.tar", ...]}]`), the config, and a directory per layer holding an uncompressed
`layer.tar`. dockerd 25 and later write an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`),
still with a `manifest.json` that points into `blobs/`. Layers of an OCI layout may be gzip-compressed; they are
decompressed here, since the export compresses every layer its own deterministic way.

The tar lists layers in name order, not in image order, and `manifest.json` comes last; a layer's place (and so
whether it is needed) is known only from its digest once it has been read. So every layer is hashed while it
is spooled to a file, and handed to `on_layer` as soon as its digest says it is wanted: compressing and
uploading one layer overlaps with reading the next. When a layer is known to be wanted before it is read (its
OCI blob name is a wanted digest, or every layer not yet seen is wanted), it is not spooled but streamed to a
`LayerWriter` as it is read, so that compressing and uploading it overlaps with reading it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import tempfile
import zlib
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from daas.errors import BuildFailureCode, InfrastructureFault, RequesterFault
from daas.image.oci import MANIFEST_MEDIA_TYPE, check_digest, digest_hex

__all__ = ["LayerWriter", "SavedImage", "SpooledLayer", "read_saved_image"]

_READ = 1024 * 1024
# Metadata files (manifests, configs, v1 json) are kept in memory; nothing legitimate comes near this.
_MAX_METADATA_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclasses.dataclass(frozen=True)
class SpooledLayer:
    """An uncompressed layer tar in a file that the receiver now owns (and deletes)."""

    diff_id: str
    path: Path
    size: int


class LayerWriter(Protocol):
    """Takes a layer's uncompressed bytes as they are read (in the reading thread)."""

    def write(self, data: bytes) -> None: ...

    def finish(self, diff_id: str, wanted: bool) -> None:
        """The layer is complete; `wanted` is False if its digest turned out not to be needed after all."""
        ...

    def abort(self) -> None:
        """Reading failed: drop what was written."""
        ...


@dataclasses.dataclass(frozen=True)
class SavedImage:
    """What the tar says about the image: config bytes (exactly as saved) and diff ids in layer order."""

    config: bytes
    diff_ids: tuple[str, ...]
    read_bytes: int


@dataclasses.dataclass
class _File:
    content_digest: str  # of the uncompressed content
    data: bytes | None  # small files only


def _broken(message: str) -> InfrastructureFault:
    return InfrastructureFault(
        BuildFailureCode.INTERNAL, f"unexpected docker save archive: {message}"
    )


def read_saved_image(
    archive: BinaryIO,
    *,
    spool_dir: Path,
    wanted: Collection[str],
    on_layer: Callable[[SpooledLayer], None],
    max_bytes: int,
    layer_count: int | None = None,
    other_sizes: Collection[int] = (),
    open_writer: Callable[[], LayerWriter] | None = None,
) -> SavedImage:
    """Read the whole archive; deliver each wanted diff id once, to `on_layer` or to a writer from
    `open_writer`. Blocking: run it in a worker thread.

    A legacy archive's `layer.tar` is streamed when its size is none of `other_sizes` (the tar sizes of the
    image's layers that are not wanted), or when `layer_count` (distinct layers) says every layer still to come
    is wanted. `max_bytes` bounds the uncompressed content read (IMAGE_TOO_LARGE beyond it).
    """
    reader = _Reader(
        spool_dir, set(wanted), on_layer, max_bytes, layer_count, set(other_sizes), open_writer
    )
    tar = _TarStream(archive)
    for member in tar:
        if member.link is not None:
            reader.links[member.name.removeprefix("./")] = member.link
        else:
            reader.take(member.name, member.size, tar)
    return reader.result()


@dataclasses.dataclass(frozen=True)
class _Member:
    name: str
    size: int
    # The target of a symbolic link (dockerd links a repeated layer's `layer.tar` to its first copy).
    link: str | None = None


class _TarStream:
    """The regular files and symbolic links of a tar stream, in order; `read` gives the current file's bytes.

    Our own reader rather than `tarfile`: its stream mode copies every piece several times, which cost as much
    as hashing the layer. It reads POSIX ustar, pax (`path`, `linkpath`, `size` records) and GNU long names,
    as Go's archive/tar writes them; content reads of `_READ` bytes come back as whole `bytes` objects, which
    the compressor takes without another copy.
    """

    def __init__(self, archive: BinaryIO) -> None:
        self._archive = archive
        self._left = 0  # bytes of the current member not yet read
        self._padding = 0

    def read(self, size: int) -> bytes:
        size = min(size, self._left)
        if size <= 0:
            return b""
        data = self._archive.read(size)
        if len(data) != size:
            raise _broken("the archive ends inside a file")
        self._left -= size
        return data

    def _skip(self, size: int) -> None:
        while size > 0:
            piece = self._archive.read(min(size, _READ))
            if not piece:
                raise _broken("the archive ends inside a file")
            size -= len(piece)

    def _content(self, size: int) -> bytes:
        if size > _MAX_METADATA_BYTES:
            raise _broken(f"an extended header of {size} bytes")
        data = self._archive.read(size)
        if len(data) != size:
            raise _broken("the archive ends inside a header")
        self._skip(-size % 512)
        return data

    def __iter__(self) -> Iterator[_Member]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            self._skip(self._left + self._padding)  # what the caller left of the previous file
            self._left = self._padding = 0
            header = self._archive.read(512)
            if not header or header == _ZERO_BLOCK:
                return  # the end-of-archive marker (or a stream that stops right after a member)
            if len(header) != 512:
                raise _broken("the archive ends inside a header")
            _check_sum(header)
            size = int(pax["size"]) if "size" in pax else _number(header[124:136])
            kind = header[156:157]
            if kind in (b"x", b"g", b"L", b"K"):
                data = self._content(size)
                if kind == b"x":
                    pax.update(_pax_records(data))
                elif kind == b"L":
                    long_name = _text(data)
                elif kind == b"K":
                    long_link = _text(data)
                continue  # a global pax header ("g") names nothing we use
            name = pax.get("path") or long_name or _ustar_name(header)
            link = pax.get("linkpath") or long_link or _text(header[157:257])
            pax, long_name, long_link = {}, None, None
            self._left, self._padding = size, -size % 512
            if kind in (b"0", b"\0", b"7"):
                yield _Member(name, size)
            elif kind == b"2":
                yield _Member(name, 0, link)
            elif kind == b"S":
                raise _broken(f"sparse file {name}")
            # Directories, hard links, devices: nothing an image's files need.


_ZERO_BLOCK = bytes(512)


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _ustar_name(header: bytes) -> str:
    name = _text(header[0:100])
    prefix = _text(header[345:500]) if header[257:262] == b"ustar" else ""
    return f"{prefix}/{name}" if prefix else name


def _number(field: bytes) -> int:
    if field[0] & 0x80:  # base-256 (GNU), for sizes beyond 8 GiB
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise _broken("a negative size")
        return value
    digits = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise _broken(f"bad number {field!r} in a header") from None


def _check_sum(header: bytes) -> None:
    stored = _number(header[148:156])
    unsigned = sum(header[:148]) + sum(header[156:]) + 8 * 0x20
    signed = unsigned - sum(256 for b in header[:148] + header[156:] if b > 127)
    if stored not in (unsigned, signed):
        raise _broken("a header's checksum does not match")


def _pax_records(data: bytes) -> dict[str, str]:
    """`"%d %s=%s\\n"` records: the length counts the whole record."""
    records: dict[str, str] = {}
    offset = 0
    while offset < len(data):
        space = data.find(b" ", offset)
        try:
            length = int(data[offset:space])
        except ValueError:
            raise _broken("a malformed pax header") from None
        record = data[space + 1 : offset + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise _broken("a malformed pax header")
        key, value = record[:-1].split(b"=", 1)
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        offset += length
    return records


class _Reader:
    def __init__(
        self,
        spool_dir: Path,
        wanted: set[str],
        on_layer: Callable[[SpooledLayer], None],
        max_bytes: int,
        layer_count: int | None,
        other_sizes: set[int],
        open_writer: Callable[[], LayerWriter] | None,
    ) -> None:
        self.spool_dir = spool_dir
        self.missing = wanted
        self.on_layer = on_layer
        self.max_bytes = max_bytes
        self.legacy_layers_left = layer_count
        self.other_sizes = other_sizes
        self.open_writer = open_writer
        self.read_bytes = 0
        self.files: dict[str, _File] = {}
        self.links: dict[str, str] = {}

    def _surely_wanted(self, name: str, size: int, compressed: bool) -> bool:
        # A wrong guess (a layer repeated in the archive, say) only costs an upload: the digest decides what
        # is used.
        if not self.missing:
            return False
        if name.startswith("blobs/sha256/"):
            return not compressed and "sha256:" + name.removeprefix("blobs/sha256/") in self.missing
        if name.endswith("/layer.tar"):
            if size not in self.other_sizes:
                return True  # not the size of any layer we do not want
            # Every layer still to come is wanted: so is this one.
            left = self.legacy_layers_left
            return left is not None and len(self.missing) >= left
        return False

    def take(self, name: str, size: int, source: _TarStream) -> None:
        name = name.removeprefix("./")
        head = source.read(_READ)
        compressed = head.startswith(_GZIP_MAGIC) and _layer_like(name)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
        # Metadata is JSON; OCI layouts keep it among the layers in blobs/, where only JSON is worth keeping.
        keep = size <= _MAX_METADATA_BYTES and (not _layer_like(name) or head[:1] == b"{")
        writer = None
        if self.open_writer is not None and self._surely_wanted(name, size, compressed):
            writer = self.open_writer()
        if name.endswith("/layer.tar") and self.legacy_layers_left is not None:
            self.legacy_layers_left -= 1
        spool = writer is None and _layer_like(name) and bool(self.missing)
        digest = hashlib.sha256()
        kept = bytearray()
        path: Path | None = None
        total = 0
        with contextlib.ExitStack() as stack:
            out: IO[bytes] | None = None
            if spool:
                fd, spool_name = tempfile.mkstemp(dir=self.spool_dir, suffix=".tar")
                path = Path(spool_name)
                out = stack.enter_context(os.fdopen(fd, "wb"))
            try:
                raw = head
                while raw:
                    block = raw if inflater is None else inflater.decompress(raw)
                    total += len(block)
                    self.read_bytes += len(block)
                    if self.read_bytes > self.max_bytes:
                        raise RequesterFault(
                            BuildFailureCode.IMAGE_TOO_LARGE,
                            f"the image holds more than {self.max_bytes} bytes",
                        )
                    digest.update(block)
                    if keep:
                        kept += block
                    if out is not None:
                        out.write(block)
                    if writer is not None:
                        writer.write(block)
                    raw = source.read(_READ)
                if inflater is not None:
                    tail = inflater.flush()
                    digest.update(tail)
                    total += len(tail)
                    if out is not None:
                        out.write(tail)
                    if writer is not None:
                        writer.write(tail)
            except BaseException:
                if path is not None:
                    path.unlink(missing_ok=True)
                if writer is not None:
                    writer.abort()
                raise
        content_digest = "sha256:" + digest.hexdigest()
        self.files[name] = _File(content_digest, bytes(kept) if keep else None)
        if writer is not None:
            wanted = content_digest in self.missing
            self.missing.discard(content_digest)
            writer.finish(content_digest, wanted)
        if path is not None:
            if content_digest in self.missing:
                self.missing.discard(content_digest)
                self.on_layer(SpooledLayer(content_digest, path, total))
            else:
                path.unlink(missing_ok=True)

    def result(self) -> SavedImage:
        if "manifest.json" in self.files:
            config, layer_paths = self._docker_manifest()
        elif "index.json" in self.files:
            config, layer_paths = self._oci_index()
        else:
            raise _broken("neither manifest.json nor index.json")
        diff_ids = []
        for path in layer_paths:
            found = self._file(path)
            if found is None:
                raise _broken(f"layer {path} is missing")
            diff_ids.append(found.content_digest)
        declared = _json(config, "the image config").get("rootfs", {}).get("diff_ids")
        if declared != diff_ids:
            raise _broken(f"the layers' digests {diff_ids} differ from the config's {declared}")
        if self.missing:
            raise _broken(f"layers {sorted(self.missing)} are not in the archive")
        return SavedImage(config, tuple(diff_ids), self.read_bytes)

    def _file(self, name: str) -> _File | None:
        """The file at `name`, following symbolic links within the archive."""
        name = name.removeprefix("./")
        for _ in range(8):
            target = self.links.get(name)
            if target is None:
                return self.files.get(name)
            name = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        return None

    def _small(self, name: str) -> bytes:
        found = self._file(name)
        if found is None or found.data is None:
            raise _broken(f"{name} is missing or too large")
        return found.data

    def _docker_manifest(self) -> tuple[bytes, list[str]]:
        manifest = _json(self._small("manifest.json"), "manifest.json")
        if not isinstance(manifest, list) or len(manifest) != 1:
            raise _broken("manifest.json must describe exactly one image")
        entry = manifest[0]
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise _broken("manifest.json has no list of layers")
        return self._small(str(entry.get("Config"))), layers

    def _oci_index(self) -> tuple[bytes, list[str]]:
        index = _json(self._small("index.json"), "index.json")
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or len(manifests) != 1:
            raise _broken("index.json must list exactly one manifest")
        manifest = _json(self._blob(manifests[0].get("digest")), "the image manifest")
        if manifest.get("mediaType", MANIFEST_MEDIA_TYPE) != MANIFEST_MEDIA_TYPE:
            raise _broken(f"unsupported manifest type {manifest.get('mediaType')!r}")
        config = self._blob(manifest.get("config", {}).get("digest"))
        layers = [f"blobs/sha256/{_hex(layer.get('digest'))}" for layer in manifest["layers"]]
        return config, layers

    def _blob(self, digest: object) -> bytes:
        return self._small(f"blobs/sha256/{_hex(digest)}")


def _hex(digest: object) -> str:
    try:
        return digest_hex(check_digest(str(digest)))
    except ValueError as exc:
        raise _broken(str(exc)) from exc


def _layer_like(name: str) -> bool:
    return name.endswith("/layer.tar") or name.startswith("blobs/")


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _broken(f"{what} is not JSON: {exc}") from exc
