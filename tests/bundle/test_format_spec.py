"""docs/bundle.md, sections 2 to 4, implemented again from the text alone (no daas.bundle code): the bytes must
equal the packer's. If this test and the packer disagree, either the document or the code is wrong."""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from pathlib import Path

import pytest

from daas.bundle import pack_directory
from tests.bundle._archives import GOLDEN_SHA256, write_golden_tree

MINIMAL_SHA256 = "bb8c26b288af8d5974fa6e5099d11a7e7d8665aaa0fba590b0acb454b8c4ae28"


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def ustar(name: bytes, mode: int, size: int, kind: bytes, link: bytes) -> bytes:
    block = (
        name[:100].ljust(100, b"\x00")
        + octal(mode, 8)
        + octal(0, 8)
        + octal(0, 8)
        + octal(size, 12)
        + octal(0, 12)
        + b" " * 8
        + kind
        + link[:100].ljust(100, b"\x00")
        + b"ustar\x0000"
        + b"\x00" * 64
        + octal(0, 8)
        + octal(0, 8)
    ).ljust(512, b"\x00")
    return block[:148] + b"%06o\x00 " % sum(block) + block[156:]


def record(key: bytes, value: bytes) -> bytes:
    length = len(key) + len(value) + 3
    while True:
        total = len(key) + len(value) + 3 + len(str(length))
        if total == length:
            return b"%d %s=%s\n" % (length, key, value)
        length = total


def pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 512)


def encode(entries: list[tuple[str, str, int, bytes, str]]) -> bytes:
    """entries: (path, kind in file/dir/link, mode, data, target); returns the bundle bytes."""
    tar = b""
    for path, kind, mode, data, target in sorted(entries, key=lambda e: e[0].encode()):
        name = path.encode() + (b"/" if kind == "dir" else b"")
        link = target.encode()
        records = (record(b"linkpath", link) if len(link) > 100 else b"") + (
            record(b"path", name) if len(name) > 100 else b""
        )
        if records:
            tar += ustar(b"././@PaxHeader", 0, len(records), b"x", b"") + pad(records)
        flag = {"file": b"0", "dir": b"5", "link": b"2"}[kind]
        tar += ustar(name, mode, len(data), flag, link) + pad(data)
    tar += b"\x00" * 1024
    out = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    chunks = [tar[i : i + 65535] for i in range(0, len(tar), 65535)]
    for index, chunk in enumerate(chunks):
        final = index == len(chunks) - 1
        out += bytes([1 if final else 0]) + len(chunk).to_bytes(2, "little")
        out += (len(chunk) ^ 0xFFFF).to_bytes(2, "little") + chunk
    return out + zlib.crc32(tar).to_bytes(4, "little") + (len(tar) % 2**32).to_bytes(4, "little")


def entries_of(root: Path, leaves: list[str]) -> list[tuple[str, str, int, bytes, str]]:
    """Section 1 for a known list of included files and links: modes, and parent directories."""
    result = []
    dirs = set()
    for rel in leaves:
        path = root / rel
        parts = rel.split("/")
        dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
        if path.is_symlink():
            result.append((rel, "link", 0o777, b"", os.readlink(path)))  # noqa: PTH115 (exact text)
        else:
            mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            result.append((rel, "file", mode, path.read_bytes(), ""))
    result += [(d, "dir", 0o755, b"", "") for d in dirs]
    return result


def test_minimal_worked_example(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\n")
    data = encode(entries_of(tmp_path, ["Dockerfile"]))
    assert len(data) == 2071
    assert data[10:15] == bytes.fromhex("01 00 08 ff f7")
    assert data[-8:] == bytes.fromhex("3c 94 55 05 00 08 00 00")
    assert data[15 + 148 : 15 + 156] == b"011173\x00 "
    assert hashlib.sha256(data).hexdigest() == MINIMAL_SHA256
    with pack_directory(tmp_path) as bundle:
        assert bundle.read_bytes() == data


def test_golden_tree_from_the_document(tmp_path: Path) -> None:
    write_golden_tree(tmp_path)
    leaves = [
        ".dockerignore",
        "Dockerfile",
        "bin/run",
        "daas.toml",
        "logs/keep.txt",
        "long-" + "n" * 120 + ".txt",
        "main",
        "src/caf\u00e9.txt",
        "src/pkg/main.py",
    ]
    assert hashlib.sha256(encode(entries_of(tmp_path, leaves))).hexdigest() == GOLDEN_SHA256


@pytest.mark.parametrize("seed", range(5))
def test_random_trees(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\n")
    leaves = ["Dockerfile"]
    for index in range(rng.randint(1, 40)):
        depth = rng.randint(0, 4)
        parts = [rng.choice(["a", "b", "é", "d" * rng.randint(1, 90), "z-z"]) for _ in range(depth)]
        rel = "/".join([*parts, f"f{index}{rng.choice(['', '.txt', '-x', 'ü'])}"])
        path = tmp_path / rel
        if any((tmp_path / "/".join(parts[:k])).is_file() for k in range(1, depth + 1)):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.15 and index:
            path.symlink_to("../" * depth + "Dockerfile")
        else:
            path.write_bytes(rng.randbytes(rng.choice([0, 1, 511, 512, 513, 70_000, 140_000])))
            path.chmod(rng.choice([0o644, 0o755, 0o600, 0o700]))
        leaves.append(rel)
    with pack_directory(tmp_path) as bundle:
        assert bundle.read_bytes() == encode(entries_of(tmp_path, leaves))
