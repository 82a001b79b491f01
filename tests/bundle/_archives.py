"""Builders for hand-made (often hostile) bundles, written with `tarfile` directly."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from daas.bundle import BundleLimits, UnpackedBundle, unpack_bundle

DOCKERFILE = b"FROM scratch\nCOPY . /app\n"
LIMITS = BundleLimits(
    max_bundle_bytes=8 * 1024 * 1024, max_unpacked_bytes=4 * 1024 * 1024, max_files=100
)


@dataclass
class Entry:
    """One tar member: `kind` is a tarfile type constant; `data` for regular files."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    mode: int = 0o644
    linkname: str = ""
    pax: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # overrides the header's size (a lie) when set


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    return Entry(name, data, mode=mode)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, kind=tarfile.DIRTYPE, mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, kind=tarfile.SYMTYPE, linkname=target, mode=0o777)


def tar_bytes(
    entries: list[Entry], *, fmt: int = tarfile.PAX_FORMAT, global_pax: dict[str, str] | None = None
) -> bytes:
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=fmt, encoding="utf-8", pax_headers=global_pax
    ) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.linkname = entry.linkname
            info.pax_headers = dict(entry.pax)
            payload = None
            if entry.kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
                info.size = len(entry.data) if entry.size is None else entry.size
                payload = io.BytesIO(entry.data)
            archive.addfile(info, payload)
    return out.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def bundle(
    entries: list[Entry], *, dockerfile: bool = True, fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    """A gzip'd tar of `entries`, with a Dockerfile first unless told otherwise."""
    prefix = [file("Dockerfile", DOCKERFILE)] if dockerfile else []
    return gz(tar_bytes(prefix + entries, fmt=fmt))


def unpack(
    data: bytes,
    dest: Path,
    *,
    limits: BundleLimits = LIMITS,
    dockerfile: str = "Dockerfile",
    sha256: bytes | None = None,
    size: int | None = None,
) -> UnpackedBundle:
    return unpack_bundle(
        data,
        dest,
        expected_sha256=sha256 if sha256 is not None else hashlib.sha256(data).digest(),
        expected_size=size,
        limits=limits,
        dockerfile=dockerfile,
    )


def tree_of(root: Path) -> dict[str, str]:
    """A readable listing of everything under `root`: files with contents, links with targets."""
    listing: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            listing[rel] = f"-> {path.readlink()}"
        elif path.is_dir():
            listing[rel] = "dir"
        else:
            listing[rel] = path.read_bytes().decode("utf-8", "replace")
    return listing


# The golden tree below must always pack to exactly these bytes: a change here is a format change (a new
# on-chain digest for the same sources), to be made deliberately and recorded in docs/bundle.md.
GOLDEN_SHA256 = "3747951c579ae61ecf9e1895c18d8d3d5681bb9af4251aa092b4c0655dc1c1d6"
GOLDEN_SIZE = 12823


def write_golden_tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "logs").mkdir()
    (root / "empty").mkdir()
    (root / "Dockerfile").write_bytes(b"FROM scratch\nCOPY . /app\n")
    (root / ".dockerignore").write_bytes(b"# local state\n*.log\nlogs\n!logs/keep.txt\n")
    (root / "daas.toml").write_bytes(b'[image]\nport = 8080\n[resources]\nmemory = "64Mi"\n')
    (root / "src" / "pkg" / "main.py").write_bytes(b"print('hello')\n")
    (root / "src" / "caf\u00e9.txt").write_bytes("caf\u00e9\n".encode())
    (root / "bin" / "run").write_bytes(b"#!/bin/sh\nexec python3 /app/src/pkg/main.py\n")
    (root / "bin" / "run").chmod(0o755)
    (root / "logs" / "keep.txt").write_bytes(b"kept by an exception\n")
    (root / "logs" / "debug.txt").write_bytes(b"ignored\n")
    (root / "build.log").write_bytes(b"ignored\n")
    (root / ("long-" + "n" * 120 + ".txt")).write_bytes(b"a name that needs a pax header\n")
    (root / "main").symlink_to("src/pkg/main.py")
