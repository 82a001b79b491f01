"""The packer: same files, same bytes; Docker's `.dockerignore` semantics; early, precise refusals; the exact format."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import socket
import stat
import struct
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from daas.bundle import (
    BundleLimits,
    EntryKind,
    PackError,
    PackProgress,
    collect_entries,
    pack_directory,
    unpack_bundle,
)
from tests.bundle._archives import GOLDEN_SHA256, GOLDEN_SIZE, write_golden_tree


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    root = tmp_path / "golden"
    root.mkdir()
    write_golden_tree(root)
    return root


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def paths(root: Path, **kwargs: str) -> list[str]:
    entries, _ = collect_entries(root, **kwargs)
    return [e.path + ("/" if e.kind is EntryKind.DIR else "") for e in entries]


# -- determinism ---------------------------------------------------------------------------------------


def test_golden_tree_packs_to_pinned_bytes(golden: Path) -> None:
    with pack_directory(golden) as bundle:
        assert bundle.sha256.hex() == GOLDEN_SHA256
        assert bundle.size == GOLDEN_SIZE == len(bundle.read_bytes())
        assert [e.path for e in bundle.entries] == [
            ".dockerignore",
            "Dockerfile",
            "bin",
            "bin/run",
            "daas.toml",
            "logs",
            "logs/keep.txt",
            "long-" + "n" * 120 + ".txt",
            "main",
            "src",
            "src/caf\u00e9.txt",
            "src/pkg",
            "src/pkg/main.py",
        ]
        assert bundle.file_count == 8
        assert bundle.config.image.port == 8080


def digest(root: Path, **kwargs: object) -> str:
    with pack_directory(root, **kwargs) as bundle:  # type: ignore[arg-type]
        return bundle.sha256.hex()


def test_same_tree_same_bytes_whatever_the_metadata(golden: Path, tmp_path: Path) -> None:
    with pack_directory(golden) as first, pack_directory(golden) as again:
        assert again.read_bytes() == first.read_bytes()

    # A copy made under another umask, with other times, other permissions on non-executables, and other owners.
    with umask(0o077):
        copy = tmp_path / "copy"
        shutil.copytree(golden, copy, symlinks=True)
    for path in copy.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_700_000_000, 1_234_567_890))
            if path.is_file() and not path.stat().st_mode & 0o100:
                path.chmod(0o600)
        if os.geteuid() == 0:
            os.lchown(path, 1234, 5678)
    os.utime(copy / "main", (5, 5), follow_symlinks=False)
    assert digest(copy) == digest(golden)


def test_executable_is_the_owner_execute_bit(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    for name, mode in [("u", 0o700), ("g", 0o650), ("none", 0o644)]:
        (tmp_path / name).write_text(name)
        (tmp_path / name).chmod(mode)
    modes = {e.path: e.mode for e in collect_entries(tmp_path)[0]}
    assert modes == {"Dockerfile": 0o644, "u": 0o755, "g": 0o644, "none": 0o644}


def test_roundtrip_through_the_unpacker_repacks_identically(golden: Path, tmp_path: Path) -> None:
    limits = BundleLimits(max_bundle_bytes=10**6, max_unpacked_bytes=10**6, max_files=100)
    with pack_directory(golden) as bundle:
        unpacked = unpack_bundle(
            bundle.open(),
            tmp_path / "out",
            expected_sha256=bundle.sha256,
            expected_size=bundle.size,
            limits=limits,
        )
    assert unpacked.file_count == bundle.file_count
    assert unpacked.config == bundle.config
    assert not (tmp_path / "out" / "build.log").exists()
    assert (tmp_path / "out" / "logs" / "keep.txt").exists()
    assert digest(tmp_path / "out") == bundle.sha256.hex()


def test_big_bundles_spool_to_a_temporary_file(golden: Path) -> None:
    with pack_directory(golden) as in_memory, pack_directory(golden, spool_bytes=1024) as spooled:
        assert spooled.open().fileno() >= 0  # a real file, not a BytesIO
        assert spooled.read_bytes() == in_memory.read_bytes()


def test_progress_reports_files_and_bytes(golden: Path) -> None:
    seen: list[PackProgress] = []
    with pack_directory(golden, on_progress=seen.append) as bundle:
        pass
    assert seen[-1] == PackProgress(8, 8, bundle.unpacked_bytes, bundle.unpacked_bytes)
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)


def test_write_to(golden: Path, tmp_path: Path) -> None:
    with pack_directory(golden) as bundle:
        bundle.write_to(tmp_path / "b.tar.gz")
        assert hashlib.sha256((tmp_path / "b.tar.gz").read_bytes()).digest() == bundle.sha256


# -- the exact format ----------------------------------------------------------------------------------


def packed_bytes(root: Path) -> bytes:
    with pack_directory(root) as bundle:
        return bundle.read_bytes()


def stored_blocks(data: bytes) -> tuple[bytes, list[tuple[bool, int]]]:
    """Parse a canonical bundle by hand, following docs/bundle.md: the tar bytes and the block layout."""
    assert data[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    pos, tar, layout = 10, b"", []
    while True:
        final = data[pos] == 1
        assert data[pos] in (0, 1)
        length, nlength = struct.unpack_from("<HH", data, pos + 1)
        assert length ^ 0xFFFF == nlength
        tar += data[pos + 5 : pos + 5 + length]
        layout.append((final, length))
        pos += 5 + length
        if final:
            break
    crc, isize = struct.unpack_from("<II", data, pos)
    assert pos + 8 == len(data)
    assert crc == zlib.crc32(tar) and isize == len(tar)
    return tar, layout


def test_gzip_of_stored_blocks_of_65535_bytes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "blob").write_bytes(os.urandom(200_000))
    data = packed_bytes(tmp_path)
    tar, layout = stored_blocks(data)
    assert gzip.decompress(data) == tar
    assert len(tar) == 512 + 512 + 512 + 200_192 + 1024
    assert layout == [(False, 65535)] * 3 + [(True, len(tar) - 3 * 65535)]


def test_tar_blocks_are_byte_exact(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\n")
    tar, _ = stored_blocks(packed_bytes(tmp_path))
    header = bytearray(512)
    header[0:10] = b"Dockerfile"
    header[100:108] = b"0000644\x00"
    header[108:116] = b"0000000\x00"
    header[116:124] = b"0000000\x00"
    header[124:136] = b"00000000015\x00"
    header[136:148] = b"00000000000\x00"
    header[148:156] = b"        "
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[329:337] = b"0000000\x00"
    header[337:345] = b"0000000\x00"
    header[148:156] = b"%06o\x00 " % sum(header)
    assert tar[:512] == bytes(header)
    assert tar[512:1024] == b"FROM scratch\n" + bytes(499)
    assert tar[1024:] == bytes(1024)


def test_long_names_use_a_pax_header(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    (tmp_path / "l").symlink_to("d" * 60 + "/" + "e" * 60 + "/f")
    tar, _ = stored_blocks(packed_bytes(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        names = [(m.name, m.type, m.linkname) for m in archive.getmembers()]
    long_dir = "d" * 60 + "/" + "e" * 60
    assert names == [
        ("Dockerfile", tarfile.REGTYPE, ""),
        ("d" * 60, tarfile.DIRTYPE, ""),
        (long_dir, tarfile.DIRTYPE, ""),
        (long_dir + "/f", tarfile.REGTYPE, ""),
        ("l", tarfile.SYMTYPE, long_dir + "/f"),
    ]
    # the pax header of the long directory: fixed name, mode 0, one "path" record with the trailing slash
    pax_at = 512 * 3
    assert tar[pax_at : pax_at + 14] == b"././@PaxHeader" and tar[pax_at + 156] == ord("x")
    record = b"path=" + long_dir.encode() + b"/\n"
    length = len(record) + 1 + 3
    assert tar[pax_at + 512 : pax_at + 512 + length] == b"%d %s" % (length, record)


# -- .dockerignore, as docker build applies it -----------------------------------------------------------


def make(root: Path, *files: str, ignore: str | None = None) -> Path:
    root.mkdir(exist_ok=True)
    for rel in ("Dockerfile", *files):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    if ignore is not None:
        (root / ".dockerignore").write_text(ignore)
    return root


def test_ignored_directories_and_exceptions(tmp_path: Path) -> None:
    root = make(
        tmp_path / "ctx",
        "docs/README.md",
        "docs/guide.md",
        "docs/img/a.png",
        "node_modules/x/index.js",
        "src/a.go",
        "src/a_test.go",
        "src/deep/b_test.go",
        "notes.md",
        ignore="docs\n!docs/README.md\nnode_modules\n**/*_test.go\n*.md\n",
    )
    assert paths(root) == [
        ".dockerignore",
        "Dockerfile",
        "docs/",
        "docs/README.md",
        "src/",
        "src/a.go",
    ]


def test_exception_inside_an_unrelated_excluded_directory_is_not_reached(tmp_path: Path) -> None:
    # Docker only descends into an excluded directory if an exception pattern starts with its path.
    root = make(tmp_path / "ctx", "a/keep", "b/keep", ignore="a\nb\n!**/keep\n!b/other\n")
    assert paths(root) == [".dockerignore", "Dockerfile", "b/", "b/keep"]


def test_dockerfile_dockerignore_and_daas_toml_are_always_sent(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx", "daas.toml", "build/app.Dockerfile", "other", ignore="*\n")
    (root / "daas.toml").write_text("")
    assert paths(root, dockerfile="build/app.Dockerfile") == [
        ".dockerignore",
        "build/",
        "build/app.Dockerfile",
        "daas.toml",
    ]
    assert paths(root) == [".dockerignore", "Dockerfile", "daas.toml"]


def test_ignored_special_files_do_not_matter(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx", ignore="run\n")
    (root / "run").mkdir()
    os.mkfifo(root / "run" / "fifo")
    assert paths(root) == [".dockerignore", "Dockerfile"]


def test_empty_directories_are_not_entries(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx", "a/b/c")
    (root / "empty" / "nested").mkdir(parents=True)
    assert paths(root) == ["Dockerfile", "a/", "a/b/", "a/b/c"]


# -- refusals ------------------------------------------------------------------------------------------


def refused(root: Path, match: str, **kwargs: object) -> PackError:
    with pytest.raises(PackError, match=match) as info:
        digest(root, **kwargs)
    return info.value


def test_missing_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x")
    err = refused(tmp_path, "no Dockerfile at 'Dockerfile' in the directory")
    assert err.path == "Dockerfile"
    refused(tmp_path, "no Dockerfile at 'sub/Dockerfile'", dockerfile="sub/Dockerfile")
    (tmp_path / "Dockerfile").mkdir()
    refused(tmp_path, "'Dockerfile' is a directory")


def test_dockerfile_path_outside(tmp_path: Path) -> None:
    make(tmp_path)
    refused(tmp_path, "has a '..' component", dockerfile="../Dockerfile")
    refused(tmp_path, "is absolute", dockerfile="/Dockerfile")
    refused(tmp_path, "names the context itself", dockerfile=".")
    refused(tmp_path / "nope", "is not a directory")


def test_fifo_socket_and_device_are_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx")
    os.mkfifo(root / "pipe")
    err = refused(root, "pipe is a named pipe \\(FIFO\\).*add it to .dockerignore")
    assert err.path == "pipe"
    (root / "pipe").unlink()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        refused(root, "sock is a socket")
    (root / "sock").unlink()
    if os.geteuid() == 0:
        os.mknod(root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        refused(root, "null is a character device")


def test_non_utf8_file_name(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx")
    try:
        (root / os.fsdecode(b"caf\xe9")).write_text("x")
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    refused(root, r"b'caf\\xe9': file names must be valid UTF-8")
    (root / ".dockerignore").write_text("caf*\n")
    assert paths(root) == [".dockerignore", "Dockerfile"]


@pytest.mark.parametrize(
    ("links", "match"),
    [
        ({"l": "/etc/passwd"}, "points to an absolute path"),
        ({"l": "../outside"}, "does not stay inside the context"),
        ({"s": ".", "t": "s/.."}, r"t -> 's/\.\.' does not stay inside"),
        ({"a": "b", "b": "a"}, "follows more than 40 links"),
    ],
)
def test_links_leaving_the_context(tmp_path: Path, links: dict[str, str], match: str) -> None:
    root = make(tmp_path / "ctx")
    for name, target in links.items():
        (root / name).symlink_to(target)
    refused(root, match)


def test_link_to_an_ignored_file_is_kept_dangling(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx", "secret.env", ignore="*.env\n")
    (root / "env").symlink_to("secret.env")
    assert paths(root) == [".dockerignore", "Dockerfile", "env"]


def test_invalid_daas_toml_is_refused_before_upload(tmp_path: Path) -> None:
    root = make(tmp_path / "ctx", "daas.toml")
    (root / "daas.toml").write_text('[resources]\ncpu = "fast"\n')
    err = refused(root, "resources.cpu: 'fast' is not a Kubernetes CPU quantity")
    assert err.path == "daas.toml"


def test_invalid_dockerignore(tmp_path: Path) -> None:
    refused(make(tmp_path / "a", ignore="!\n"), 'illegal exclusion pattern: "!"')
    refused(make(tmp_path / "b", ignore="[\n"), "syntax error in pattern")


def test_limits_are_checked_before_writing(golden: Path) -> None:
    size = GOLDEN_SIZE
    assert digest(golden, limits=BundleLimits(size, 10**6, 100)) == GOLDEN_SHA256
    refused(
        golden,
        f"would be {size} bytes; at most {size - 1}",
        limits=BundleLimits(size - 1, 10**6, 100),
    )
    refused(golden, "would have 13 entries; at most 12", limits=BundleLimits(10**6, 10**6, 12))
    refused(golden, "files add up to 2.. bytes; at most 100", limits=BundleLimits(10**6, 100, 100))
