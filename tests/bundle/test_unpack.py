"""The runner's unpacker against hostile bundles: every refusal has its code, its reason, and writes nothing outside."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from daas.bundle import BundleLimits, pack_directory, unpack_bundle
from daas.errors import BuildFailureCode as Code
from daas.errors import RequesterFault
from tests.bundle._archives import (
    DOCKERFILE,
    LIMITS,
    Entry,
    bundle,
    directory,
    file,
    gz,
    symlink,
    tar_bytes,
    tree_of,
    unpack,
)


@dataclass
class Workspace:
    """`dest` is where bundles go; `canary` sits next to it and must stay empty whatever happens."""

    root: Path
    dest: Path
    canary: Path

    def assert_untouched(self) -> None:
        assert not any(self.canary.iterdir()), tree_of(self.canary)
        assert sorted(p.name for p in self.root.iterdir()) == ["canary"], "dest must be removed"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    canary = root / "canary"
    canary.mkdir()
    return Workspace(root, root / "dest", canary)


def refused(ws: Workspace, data: bytes, code: Code, match: str, **kwargs: object) -> RequesterFault:
    with pytest.raises(RequesterFault, match=match) as info:
        unpack(data, ws.dest, **kwargs)  # type: ignore[arg-type]
    assert info.value.code is code, str(info.value)
    ws.assert_untouched()
    return info.value


# -- the happy path ------------------------------------------------------------------------------------


def test_unpacks_files_dirs_and_links_with_normalised_modes(ws: Workspace) -> None:
    data = bundle(
        [
            directory("app", mode=0o700),
            file("app/main.py", b"print(1)\n", mode=0o4755),  # setuid: dropped
            file("app/data.txt", b"data", mode=0o600),
            directory("app/shared", mode=0o3777),  # setgid + sticky: dropped
            symlink("app/current", "main.py"),
            symlink("top", "app/shared"),
            file("daas.toml", b'[image]\nport = 8080\n[build]\nargs = { V = "1" }\n'),
        ]
    )
    result = unpack(data, ws.dest)
    assert result.context_dir == ws.dest
    assert result.dockerfile == "Dockerfile"
    assert result.config.image.port == 8080 and result.config.build.args == {"V": "1"}
    assert (result.file_count, result.entry_count) == (4, 8)
    assert result.unpacked_bytes == len(DOCKERFILE) + 9 + 4 + len(result_toml(ws))
    assert tree_of(ws.dest)["app/current"] == "-> main.py"
    modes = {
        rel: os.lstat(ws.dest / rel).st_mode & 0o7777
        for rel in ("app", "app/main.py", "app/data.txt", "app/shared", "Dockerfile")
    }
    assert modes == {
        "app": 0o755,
        "app/main.py": 0o755,
        "app/data.txt": 0o644,
        "app/shared": 0o755,
        "Dockerfile": 0o644,
    }
    # mtimes come from the archive (tarfile writes 0), so image layers do not carry the download time
    assert os.lstat(ws.dest / "app/main.py").st_mtime == 0
    assert os.lstat(ws.dest / "app").st_mtime == 0


def result_toml(ws: Workspace) -> bytes:
    return (ws.dest / "daas.toml").read_bytes()


def test_accepts_what_tar_tools_write(ws: Workspace) -> None:
    # `tar czf b.tgz -C dir .` style: a "./" root entry, "./" prefixes, GNU long names, a git-archive comment.
    long_name = "./deep/" + "n" * 150
    entries = [
        directory("./"),
        file("./Dockerfile", DOCKERFILE),
        directory("./deep"),
        file(long_name, b"long"),
    ]
    result = unpack(gz(tar_bytes(entries, fmt=tarfile.GNU_FORMAT)), ws.dest)
    assert (ws.dest / long_name).read_bytes() == b"long"
    assert result.entry_count == 3

    other = ws.root / "other"
    raw = tar_bytes([file("Dockerfile", DOCKERFILE)], global_pax={"comment": "a" * 40})
    assert raw[156:157] == tarfile.XGLTYPE
    unpack(gz(raw), other)
    assert (other / "Dockerfile").read_bytes() == DOCKERFILE


def test_accepts_multi_member_gzip_and_trailing_zero_padding(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE)]) + bytes(10240)
    data = gz(raw[:700]) + gz(raw[700:])
    unpack(data, ws.dest)
    assert (ws.dest / "Dockerfile").read_bytes() == DOCKERFILE


def test_accepts_a_path_or_a_file_object(ws: Workspace, tmp_path: Path) -> None:
    data = bundle([file("a", b"1")])
    path = tmp_path / "b.tgz"
    path.write_bytes(data)
    digest = hashlib.sha256(data).digest()
    unpack_bundle(path, ws.dest, expected_sha256=digest, expected_size=len(data), limits=LIMITS)
    other = ws.root / "other"
    unpack_bundle(
        io.BytesIO(data), other, expected_sha256=digest, expected_size=None, limits=LIMITS
    )
    assert (other / "a").read_bytes() == b"1"


def test_existing_empty_dest_is_used_and_emptied_on_failure(ws: Workspace) -> None:
    ws.dest.mkdir()
    with pytest.raises(RequesterFault):
        unpack(bundle([file("a"), file("../x")]), ws.dest)
    assert ws.dest.is_dir() and not any(ws.dest.iterdir())
    (ws.dest / "junk").write_text("x")
    with pytest.raises(ValueError, match="not an empty directory"):
        unpack(bundle([]), ws.dest)


# -- the blob itself -----------------------------------------------------------------------------------


def test_sha256_mismatch(ws: Workspace) -> None:
    data = bundle([])
    refused(
        ws,
        data,
        Code.BUNDLE_DIGEST_MISMATCH,
        "sha256 is .* but the request says 00000",
        sha256=bytes(32),
    )


def test_size_mismatch(ws: Workspace) -> None:
    data = bundle([])
    refused(
        ws,
        data,
        Code.BUNDLE_DIGEST_MISMATCH,
        f"is {len(data)} bytes but the request says 5",
        size=5,
    )


def test_oversized_compressed_input(ws: Workspace) -> None:
    data = bundle([file("big", os.urandom(4096))])
    small = BundleLimits(max_bundle_bytes=1024, max_unpacked_bytes=10**6, max_files=10)
    refused(ws, data, Code.BUNDLE_TOO_LARGE, "at most 1024 are accepted", limits=small)
    refused(ws, bundle([]), Code.BUNDLE_TOO_LARGE, "declared as 2000", limits=small, size=2000)


def test_not_gzip(ws: Workspace) -> None:
    refused(ws, tar_bytes([file("Dockerfile")]), Code.BUNDLE_MALFORMED, "not a gzip stream")
    refused(ws, b"", Code.BUNDLE_MALFORMED, "not a gzip stream")


def test_not_a_tar(ws: Workspace) -> None:
    refused(
        ws,
        gz(b"hello, this is not a tar archive\n" * 40),
        Code.BUNDLE_MALFORMED,
        "not a tar archive",
    )


def test_truncated_gzip(ws: Workspace) -> None:
    data = bundle([file("a", os.urandom(20000))])
    refused(ws, data[: len(data) // 2], Code.BUNDLE_MALFORMED, "gzip stream is truncated")


def test_corrupt_gzip(ws: Workspace) -> None:
    data = bytearray(bundle([file("a", os.urandom(20000))]))
    data[-6] ^= 0xFF  # inside the CRC32 of the trailer
    refused(ws, bytes(data), Code.BUNDLE_MALFORMED, "gzip stream is corrupt")


def test_garbage_after_gzip(ws: Workspace) -> None:
    refused(
        ws,
        bundle([]) + b"trailing",
        Code.BUNDLE_MALFORMED,
        "data follows the end of the gzip stream",
    )


def test_a_flood_of_empty_gzip_members(ws: Workspace) -> None:
    flood = bundle([]) + gz(b"") * 65536
    refused(
        ws,
        flood,
        Code.BUNDLE_MALFORMED,
        "more than 65536 members",
        limits=BundleLimits(10**7, 10**6, 10),
    )


def test_data_after_end_of_archive(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE)]) + b"sneaky"
    refused(ws, gz(raw), Code.BUNDLE_MALFORMED, "data follows the end of the tar archive")


def test_truncated_tar_inside_complete_gzip(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE), file("a", os.urandom(5000))])
    refused(ws, gz(raw[:2000]), Code.BUNDLE_MALFORMED, "truncated in entry #2's data")
    refused(ws, gz(raw[:1100]), Code.BUNDLE_MALFORMED, "truncated in header #2")


def test_bad_header_checksum(ws: Workspace) -> None:
    raw = bytearray(tar_bytes([file("Dockerfile", DOCKERFILE)]))
    raw[0] ^= 0x01
    refused(ws, gz(bytes(raw)), Code.BUNDLE_MALFORMED, "entry #1 has a bad header checksum")


# -- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "has a '..' component"),
        ("a/../../x", "has a '..' component"),
        ("a/../b", "has a '..' component"),
        ("../canary/x", "has a '..' component"),
        ("/etc/x", "is absolute"),
        ("//etc/x", "is absolute"),
        ("a/" + "c" * 256, "component longer than 255 bytes"),
        ("d/" * 2100 + "f", "longer than 4095 bytes"),
    ],
)
def test_path_traversal(ws: Workspace, name: str, reason: str) -> None:
    refused(ws, bundle([file(name)]), Code.BUNDLE_UNSAFE_PATH, reason)


def test_absolute_path_to_the_canary(ws: Workspace) -> None:
    refused(ws, bundle([file(str(ws.canary / "x"))]), Code.BUNDLE_UNSAFE_PATH, "is absolute")


def test_non_utf8_names(ws: Workspace) -> None:
    info_name = "caf\udce9"  # b"caf\xe9" once encoded with surrogateescape
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape"
    ) as t:
        t.addfile(tarfile.TarInfo("Dockerfile"), io.BytesIO(b""))
        t.addfile(tarfile.TarInfo(info_name), io.BytesIO(b""))
    refused(
        ws,
        gz(raw.getvalue()),
        Code.BUNDLE_UNSAFE_PATH,
        r"name that is not valid UTF-8: b'caf\\xe9'",
    )


def test_non_utf8_link_target(ws: Workspace) -> None:
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape"
    ) as t:
        link = tarfile.TarInfo("l")
        link.type, link.linkname = tarfile.SYMTYPE, "x\udcff"
        t.addfile(link)
    refused(ws, gz(raw.getvalue()), Code.BUNDLE_UNSAFE_PATH, "link target that is not valid UTF-8")


def test_nul_in_a_pax_name(ws: Workspace) -> None:
    entry = file("innocent")
    entry.pax = {"path": "evil\x00name"}
    refused(ws, bundle([entry]), Code.BUNDLE_UNSAFE_PATH, "NUL byte")


def test_duplicate_entries(ws: Workspace) -> None:
    refused(
        ws,
        bundle([file("a", b"1"), file("a", b"2")]),
        Code.BUNDLE_UNSAFE_ENTRY,
        "'a' appears twice",
    )
    refused(
        ws, bundle([file("Dockerfile")]), Code.BUNDLE_UNSAFE_ENTRY, "'Dockerfile' appears twice"
    )
    refused(
        ws,
        bundle([file("x/y"), file("x")]),
        Code.BUNDLE_UNSAFE_ENTRY,
        "would replace the directory",
    )
    refused(
        ws,
        bundle([symlink("l", "a"), directory("l")]),
        Code.BUNDLE_UNSAFE_ENTRY,
        "'l/' appears twice",
    )


def test_entry_under_a_regular_file(ws: Workspace) -> None:
    refused(
        ws,
        bundle([file("a"), file("a/b")]),
        Code.BUNDLE_UNSAFE_PATH,
        "goes through 'a', a regular file",
    )


# -- entry kinds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.FIFOTYPE, "a fifo"),
        (b"Z", "a type 'Z'"),
        (tarfile.GNUTYPE_SPARSE, "a type 'S'"),
    ],
)
def test_special_entries(ws: Workspace, kind: bytes, what: str) -> None:
    refused(ws, bundle([Entry("dev", kind=kind)]), Code.BUNDLE_UNSAFE_ENTRY, f"'dev' is {what}")


@pytest.mark.parametrize("target", ["Dockerfile", "/etc/passwd", "../outside", "missing"])
def test_any_hard_link(ws: Workspace, target: str) -> None:
    entry = Entry("hard", kind=tarfile.LNKTYPE, linkname=target)
    refused(ws, bundle([entry]), Code.BUNDLE_UNSAFE_ENTRY, "'hard' is a hard link")


def test_pax_sparse_file(ws: Workspace) -> None:
    entry = file("sparse")
    entry.pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    refused(ws, bundle([entry]), Code.BUNDLE_UNSAFE_ENTRY, "sparse file")


def test_directory_or_link_with_data(ws: Workspace) -> None:
    raw = bytearray(tar_bytes([file("Dockerfile", DOCKERFILE), directory("d")]))
    header = raw[1024:1536]  # the directory's header block
    header[124:136] = b"%011o\x00" % 512
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    raw[1024:1536] = header
    refused(
        ws, gz(bytes(raw)), Code.BUNDLE_MALFORMED, r"#2 \('d/'\) is a dir with 512 bytes of data"
    )


def test_global_header_that_renames(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE)], global_pax={"path": "../evil"})
    refused(ws, gz(raw), Code.BUNDLE_MALFORMED, r"global pax header sets \['path'\]")


def test_oversized_extended_header(ws: Workspace) -> None:
    entry = file("a")
    entry.pax = {"comment": "x" * 70_000}
    refused(ws, bundle([entry]), Code.BUNDLE_MALFORMED, "extended header larger than 64 KiB")


def test_extended_header_without_entry(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE), Entry("p", pax={"path": "x" * 200})])
    assert raw[1024 + 156 : 1024 + 157] == tarfile.XHDTYPE
    dangling = raw[
        : 1024 + 1024
    ]  # the Dockerfile, then the pax header and its records, then nothing
    refused(
        ws,
        gz(dangling + bytes(1024)),
        Code.BUNDLE_MALFORMED,
        "extended header with no entry after it",
    )


# -- symbolic links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([symlink("l", "/etc")], r"'l' -> '/etc' points to an absolute path"),
        ([symlink("l", "/")], "points to an absolute path"),
        ([symlink("l", "..")], "points outside the context"),
        ([symlink("l", "../canary")], "points outside the context"),
        ([directory("a"), symlink("a/l", "../../x")], "points outside the context"),
        ([symlink("l", "a/../../x")], "points outside the context"),
        # chained: each link stays inside on its own, together they climb out
        ([symlink("s", "."), symlink("t", "s/..")], r"'t' -> 's/\.\.' does not stay inside"),
        (
            [directory("d"), symlink("d/up", ".."), symlink("x", "d/up/..")],
            r"'x' -> 'd/up/\.\.' does not stay inside.*through 'd/up' -> '\.\.'",
        ),
        ([symlink("a", "b"), symlink("b", "c/../../x")], "points outside the context"),
        ([symlink("a", "b"), symlink("b", "/abs")], "points to an absolute path"),
        ([symlink("loop1", "loop2"), symlink("loop2", "loop1")], "follows more than 40 links"),
    ],
)
def test_symlinks_leaving_the_context(ws: Workspace, entries: list[Entry], reason: str) -> None:
    refused(ws, bundle(entries), Code.BUNDLE_UNSAFE_PATH, reason)


@pytest.mark.parametrize(
    "entries",
    [
        [symlink("a", "/etc"), file("a/passwd", b"root::0:0::/:/bin/sh\n")],
        [symlink("a", str(Path("/").resolve())), file("a/tmp/x")],
    ],
)
def test_absolute_parent_symlink_then_file(ws: Workspace, entries: list[Entry]) -> None:
    refused(ws, bundle(entries), Code.BUNDLE_UNSAFE_PATH, "points to an absolute path")


@pytest.mark.parametrize(
    "entries",
    [
        [directory("sub"), symlink("a", "sub"), file("a/x")],
        [symlink("a", "."), file("a/x")],
        [directory("d"), symlink("d/l", ".."), file("d/l/x")],
        [
            symlink("s", "."),
            symlink("t", "s/.."),
            file("t/x"),
        ],  # refused at t/x, before the chain check
    ],
)
def test_file_through_a_parent_symlink(ws: Workspace, entries: list[Entry]) -> None:
    refused(ws, bundle(entries), Code.BUNDLE_UNSAFE_PATH, "a symbolic link")


def test_parent_symlink_to_the_canary_never_writes_there(ws: Workspace) -> None:
    for target, reason in [
        ("../canary", "points outside the context"),
        (str(ws.canary), "points to an absolute path"),
        ("x/../../canary", "points outside the context"),
    ]:
        refused(
            ws, bundle([symlink("l", target), file("l/pwned")]), Code.BUNDLE_UNSAFE_PATH, reason
        )


def test_links_inside_the_context_are_kept(ws: Workspace) -> None:
    entries = [
        directory("a"),
        directory("a/b"),
        file("a/b/f", b"f"),
        symlink("a/b/up", ".."),  # a
        symlink("a/b/root", "../.."),  # the context root: allowed, it does not leave it
        symlink("a/self", "./b/../b/f"),
        symlink("dangling", "nowhere/at/all"),
        symlink("chain", "a/b/up/b/f"),
    ]
    unpack(bundle(entries), ws.dest)
    assert (ws.dest / "chain").read_bytes() == b"f"
    assert tree_of(ws.dest)["dangling"] == "-> nowhere/at/all"


# -- resource caps -------------------------------------------------------------------------------------


class WriteCounter:
    def __init__(self) -> None:
        self.total = 0

    def wrap(self, real: object) -> object:
        def write(fd: int, data: bytes) -> int:
            written: int = real(fd, data)  # type: ignore[operator]
            self.total += written
            return written

        return write


def test_decompression_bomb_stops_at_the_cap(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bundle([file("zeros", bytes(10 * 1024 * 1024))])
    assert len(data) < 20 * 1024  # ~10 KB of gzip for 10 MB of zeros
    cap = BundleLimits(max_bundle_bytes=10**6, max_unpacked_bytes=1024 * 1024, max_files=10)
    counter = WriteCounter()
    monkeypatch.setattr(os, "write", counter.wrap(os.write))
    started = time.monotonic()
    refused(
        ws, data, Code.BUNDLE_TOO_LARGE, "'zeros' takes the unpacked size past 1048576", limits=cap
    )
    assert time.monotonic() - started < 2
    assert counter.total <= cap.max_unpacked_bytes


def test_many_files_past_the_byte_cap(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [file(f"f{i}", bytes(300 * 1024)) for i in range(10)]
    cap = BundleLimits(max_bundle_bytes=10**6, max_unpacked_bytes=1024 * 1024, max_files=100)
    counter = WriteCounter()
    monkeypatch.setattr(os, "write", counter.wrap(os.write))
    refused(
        ws, bundle(entries), Code.BUNDLE_TOO_LARGE, "'f3' takes the unpacked size past", limits=cap
    )
    assert counter.total <= cap.max_unpacked_bytes


def test_zeros_after_the_archive_are_capped_too(ws: Workspace) -> None:
    raw = tar_bytes([file("Dockerfile", DOCKERFILE)]) + bytes(64 * 1024 * 1024)
    cap = BundleLimits(max_bundle_bytes=10**6, max_unpacked_bytes=1024 * 1024, max_files=10)
    started = time.monotonic()
    refused(ws, gz(raw), Code.BUNDLE_TOO_LARGE, "decompresses to more than", limits=cap)
    assert time.monotonic() - started < 2


def test_too_many_files(ws: Workspace) -> None:
    cap = BundleLimits(max_bundle_bytes=10**6, max_unpacked_bytes=10**6, max_files=5)
    entries = [file(f"f{i}") for i in range(5)]
    refused(
        ws,
        bundle(entries),
        Code.BUNDLE_TOO_MANY_FILES,
        "more than 5 entries \\(at 'f4'\\)",
        limits=cap,
    )
    # directories and links count as entries too
    other = [
        directory("d1"),
        directory("d2"),
        symlink("l1", "d1"),
        symlink("l2", "d2"),
        directory("d3"),
    ]
    refused(ws, bundle(other), Code.BUNDLE_TOO_MANY_FILES, "more than 5 entries", limits=cap)


# -- the Dockerfile and daas.toml ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../Dockerfile", "/Dockerfile", "a/../../Dockerfile", "/etc/passwd"]
)
def test_dockerfile_path_outside_the_context(ws: Workspace, path: str) -> None:
    refused(
        ws, bundle([]), Code.BUNDLE_UNSAFE_PATH, "must stay inside the context", dockerfile=path
    )


def test_dockerfile_missing(ws: Workspace) -> None:
    data = bundle([file("README")], dockerfile=False)
    refused(ws, data, Code.DOCKERFILE_NOT_FOUND, "no Dockerfile at 'Dockerfile'")
    refused(
        ws,
        bundle([]),
        Code.DOCKERFILE_NOT_FOUND,
        "no Dockerfile at 'build/Dockerfile'",
        dockerfile="build/Dockerfile",
    )
    refused(ws, bundle([]), Code.DOCKERFILE_NOT_FOUND, "names no Dockerfile", dockerfile="")


def test_dockerfile_is_a_directory(ws: Workspace) -> None:
    data = bundle([directory("Dockerfile"), file("Dockerfile/x")], dockerfile=False)
    refused(ws, data, Code.DOCKERFILE_NOT_FOUND, "names a directory")
    refused(
        ws, bundle([directory("d")]), Code.DOCKERFILE_NOT_FOUND, "names a directory", dockerfile="d"
    )


def test_dockerfile_symlink_to_outside(ws: Workspace) -> None:
    for target in ("../../etc/passwd", "/etc/passwd"):
        data = bundle([symlink("Dockerfile", target)], dockerfile=False)
        refused(ws, data, Code.BUNDLE_UNSAFE_PATH, "Dockerfile")


def test_dockerfile_through_links_inside(ws: Workspace) -> None:
    entries = [directory("real"), file("real/Dockerfile", DOCKERFILE), symlink("alias", "real")]
    result = unpack(bundle(entries, dockerfile=False), ws.dest, dockerfile="./alias/Dockerfile")
    assert result.dockerfile == "alias/Dockerfile"


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        (b"[build\n", r"daas.toml is not valid TOML: .*line 1"),
        (b"[build]\nargz = {}\n", "invalid daas.toml: build.argz: unknown key"),
        (b'[image]\nport = "8080"\n', "image.port: input should be a valid integer"),
        (
            b'[resources]\nmemory = "lots"\n',
            "resources.memory: 'lots' is not a Kubernetes memory quantity",
        ),
        (b"\xff\xfe", "not valid UTF-8"),
    ],
)
def test_invalid_daas_toml(ws: Workspace, toml: bytes, reason: str) -> None:
    refused(ws, bundle([file("daas.toml", toml)]), Code.INVALID_BUILD_CONFIG, reason)


def test_daas_toml_must_be_a_regular_file(ws: Workspace) -> None:
    entries = [file("real.toml", b"[image]\nport = 1\n"), symlink("daas.toml", "real.toml")]
    refused(
        ws, bundle(entries), Code.INVALID_BUILD_CONFIG, "must be a regular file at the bundle root"
    )
    refused(ws, bundle([directory("daas.toml")]), Code.INVALID_BUILD_CONFIG, "not a dir")


def test_daas_toml_too_large(ws: Workspace) -> None:
    toml = b"# " + b"x" * (70 * 1024) + b"\n"
    refused(ws, bundle([file("daas.toml", toml)]), Code.INVALID_BUILD_CONFIG, "larger than 64 KiB")


# -- speed ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_200_mb_bundle_unpacks_at_disk_speed(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "layer").mkdir(parents=True)
    (source / "Dockerfile").write_bytes(DOCKERFILE)
    blob = os.urandom(1024 * 1024)
    for i in range(200):
        (source / "layer" / f"{i:03}.bin").write_bytes(blob)
    limits = BundleLimits(
        max_bundle_bytes=512 * 1024 * 1024, max_unpacked_bytes=1 << 30, max_files=1000
    )
    started = time.monotonic()
    with pack_directory(source, limits=limits) as packed:
        packing = time.monotonic() - started
        started = time.monotonic()
        result = unpack_bundle(
            packed.open(),
            ws.dest,
            expected_sha256=packed.sha256,
            expected_size=packed.size,
            limits=limits,
        )
        unpacking = time.monotonic() - started
    print(f"200 MiB: packed in {packing:.2f} s, checked and unpacked in {unpacking:.2f} s")
    assert result.unpacked_bytes == 200 * 1024 * 1024 + len(DOCKERFILE)
    assert unpacking < 10
