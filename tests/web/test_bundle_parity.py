"""The browser's packer (web/src/bundle, run in Node by web/scripts/pack.ts) makes the same bytes as `daas submit`.

For real trees on disk (exec bits, links, unicode and long names, `.dockerignore`, a custom Dockerfile path, empty
directories, a 3 MiB file) and for archives written by Python's `tarfile`, the Node packer's bundle must equal
`daas.bundle.pack_directory`'s byte for byte; both must refuse the same bad trees with the same message, and the
Node packer must refuse the hostile archives the runner refuses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daas.bundle import BundleLimits, PackError, pack_directory
from daas.errors import RequesterFault
from tests.bundle._archives import (
    Entry,
    directory,
    file,
    gz,
    symlink,
    tar_bytes,
    unpack,
    write_golden_tree,
)
from tests.fixtures.environment import require

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB = REPO_ROOT / "web"
TSX = WEB / "node_modules" / ".bin" / "tsx"


class NodePacker:
    """web/scripts/pack.ts, started once with `--serve`: one JSON line of arguments in, one result out."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["npx", "--no-install", "tsx", "scripts/pack.ts", "--serve"],
            cwd=WEB,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, *args: str) -> tuple[int, dict[str, Any], str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(list(args)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the Node packer exited"
        outcome = json.loads(line)
        assert outcome["code"] in (0, 1), outcome
        return outcome["code"], outcome["report"], outcome["stderr"]

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def node() -> Iterator[NodePacker]:
    require(shutil.which("npx") is not None, "npx not found (install Node.js 20)")
    require(TSX.exists(), "web/node_modules is missing: run `npm ci --prefix web`")
    packer = NodePacker()
    try:
        yield packer
    finally:
        packer.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The packer as a command, the way people run it."""
    return subprocess.run(
        ["npx", "--no-install", "tsx", "scripts/pack.ts", *args],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def node_bundle(node: NodePacker, tmp_path: Path, *args: str) -> tuple[bytes, dict[str, Any]]:
    out = tmp_path / "node-bundle.tar.gz"
    code, report, stderr = node(*args, "--out", str(out))
    assert code == 0, stderr
    data = out.read_bytes()
    assert report["size"] == len(data)
    return data, report


def python_bundle(root: Path, dockerfile: str = "Dockerfile") -> tuple[bytes, str]:
    """What `daas submit` uploads (`daas.cli.submit_cmd._pack` calls `pack_directory`)."""
    with pack_directory(root, dockerfile=dockerfile) as bundle:
        return bundle.read_bytes(), bundle.sha256.hex()


def assert_same(
    node: NodePacker, tmp_path: Path, root: Path, dockerfile: str = "Dockerfile"
) -> None:
    expected, sha256 = python_bundle(root, dockerfile)
    data, report = node_bundle(node, tmp_path, str(root), "--dockerfile", dockerfile)
    assert data == expected
    assert report["sha256"] == sha256 == hashlib.sha256(data).hexdigest()


# -- trees ---------------------------------------------------------------------------------------------


def write(root: Path, rel: str, data: bytes | str = b"", mode: int | None = None) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)


def link(root: Path, rel: str, target: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).symlink_to(target)


def golden(root: Path) -> None:
    write_golden_tree(root)


def nested(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\nCOPY . /\n")
    for a in range(3):
        for b in range(3):
            write(root, f"src/m{a}/p{b}/mod.py", f"# {a}.{b}\n" * (a + b))
    write(root, "src/m0/p0/deeper/still/x", "")  # an empty file
    write(root, "a-b", "sorted between a and a/b")
    write(root, "a/b", "x")


def unicode_names(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    write(root, "caf\u00e9.txt", "NFC")
    write(root, "cafe\u0301.txt", "NFD: another name, not normalised")
    write(root, "\u65e5\u672c/\u8a9e.md", "CJK")
    write(root, "emoji/\U0001f600.txt", "astral")
    write(root, "\uff21", "fullwidth A sorts before the emoji in UTF-8")
    write(root, "\u00e9" * 50, "100 bytes of name: no pax header")
    write(root, "\u00e9" * 51, "102 bytes of name: a pax header")


def long_names(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    deep = "/".join(["d" * 60, "e" * 60, "f" * 60])
    write(root, f"{deep}/file.txt", "deep")
    write(root, "n" * 200, "a long file name")
    write(root, "x" * 99, "99")
    write(root, "y" * 100, "100")
    link(root, "short-link", f"{deep}/file.txt")
    link(root, "l" * 150, "Dockerfile")


def dockerignore(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    write(
        root,
        ".dockerignore",
        "# comment\n**/*.log\n!important.log\nbuild\n!build/keep/**\ndocs\n!docs/README.md\n"
        "node_modules\n**/__pycache__\n*.tmp\n!*.tmp.keep\ntest?\n[ab]x\n",
    )
    for rel in [
        "app.log",
        "important.log",
        "src/deep/trace.log",
        "src/main.py",
        "src/__pycache__/main.cpython-312.pyc",
        "build/out.o",
        "build/keep/a/b.txt",
        "docs/README.md",
        "docs/guide.md",
        "node_modules/x/index.js",
        "a.tmp",
        "a.tmp.keep",
        "test1",
        "test12",
        "ax",
        "cx",
    ]:
        write(root, rel, rel)


def exec_bits(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n", mode=0o600)
    write(root, "bin/owner", "#!/bin/sh\n", mode=0o700)
    write(root, "bin/all", "#!/bin/sh\n", mode=0o755)
    write(root, "bin/group-only", "g", mode=0o650)
    write(root, "bin/other-only", "o", mode=0o645)
    write(root, "plain", "p", mode=0o444)


def symlinks(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    write(root, ".dockerignore", "*.env\n")
    write(root, "src/pkg/main.py", "print()\n")
    write(root, "secret.env", "excluded")
    link(root, "main", "src/pkg/main.py")
    link(root, "pkg", "src/pkg")
    link(root, "src/pkg/up", "..")
    link(root, "src/top", "../")
    link(root, "env", "secret.env")  # kept, dangling in the bundle
    link(root, "missing", "nowhere/at/all")
    link(root, "dotted", "./src//pkg/./main.py")  # stored as readlink returns it
    link(root, "via-link", "pkg/main.py")


def custom_dockerfile(root: Path) -> None:
    write(root, ".dockerignore", "*\n")
    write(root, "build/app.Dockerfile", "FROM scratch\n")
    write(root, "daas.toml", "[image]\nport = 8080\n")
    write(root, "other", "excluded")


def empty_dirs(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    write(root, "a/b/c", "c")
    (root / "empty" / "nested").mkdir(parents=True)
    (root / "a" / "also-empty").mkdir()


def big_file(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    write(root, "data/blob.bin", random.Random(3).randbytes(3 * 1024 * 1024 + 17))
    write(root, "data/zeros", bytes(65535 * 3))


def random_tree(root: Path) -> None:
    rng = random.Random(7)
    write(root, "Dockerfile", "FROM scratch\n")
    for index in range(60):
        depth = rng.randint(0, 4)
        parts = [
            rng.choice(["a", "b", "\u00e9", "d" * rng.randint(1, 90), "z-z"]) for _ in range(depth)
        ]
        suffix = rng.choice(["", ".txt", "-x", "\u00fc"])
        rel = "/".join([*parts, f"f{index}{suffix}"])
        if any((root / "/".join(parts[:k])).is_file() for k in range(1, depth + 1)):
            continue
        if rng.random() < 0.15:
            link(root, rel, "../" * depth + "Dockerfile")
        else:
            size = rng.choice([0, 1, 511, 512, 513, 70_000])
            write(root, rel, rng.randbytes(size), mode=rng.choice([0o644, 0o755, 0o600, 0o700]))


TREES: dict[str, Callable[[Path], None]] = {
    "golden": golden,
    "nested": nested,
    "unicode": unicode_names,
    "long-names": long_names,
    "dockerignore": dockerignore,
    "exec-bits": exec_bits,
    "symlinks": symlinks,
    "empty-dirs": empty_dirs,
    "big-file": big_file,
    "random": random_tree,
}


@pytest.mark.parametrize("name", TREES)
def test_directory_parity(node: NodePacker, tmp_path: Path, name: str) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    TREES[name](root)
    assert_same(node, tmp_path, root)


def test_examples_hello(node: NodePacker, tmp_path: Path) -> None:
    hello = REPO_ROOT / "examples" / "hello"
    assert_same(node, tmp_path, hello)
    # and as a command: JSON on stdout, exit status 0
    result = run_cli(str(hello))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == python_bundle(hello)[1]


def test_custom_dockerfile_path(node: NodePacker, tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    custom_dockerfile(root)
    assert_same(node, tmp_path, root, dockerfile="build/app.Dockerfile")
    assert_same(node, tmp_path, root, dockerfile="./build//app.Dockerfile")


# -- archives ------------------------------------------------------------------------------------------


def tar_of(root: Path, fmt: int, *, compress: bool, dot: bool) -> bytes:
    """`tar cf - -C root .` (`./` names and a root entry) or `tar cf - -C root *` (bare names)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        if dot:
            archive.add(root, arcname=".")
        else:
            for child in sorted(root.iterdir()):
                archive.add(child, arcname=child.name)
    return gz(out.getvalue()) if compress else out.getvalue()


@pytest.mark.parametrize(
    "name", ["golden", "unicode", "long-names", "exec-bits", "symlinks", "dockerignore"]
)
@pytest.mark.parametrize(
    ("fmt", "compress", "dot"),
    [
        (tarfile.PAX_FORMAT, True, True),
        (tarfile.GNU_FORMAT, False, True),
        (tarfile.PAX_FORMAT, True, False),
    ],
    ids=["pax-gz", "gnu-tar", "pax-bare-names"],
)
def test_archive_parity(
    node: NodePacker, tmp_path: Path, name: str, fmt: int, compress: bool, dot: bool
) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    TREES[name](root)
    _, sha256 = python_bundle(root)
    archive = tmp_path / ("ctx.tar.gz" if compress else "ctx.tar")
    archive.write_bytes(tar_of(root, fmt, compress=compress, dot=dot))
    code, report, stderr = node("--archive", str(archive))
    assert code == 0, stderr
    assert report["sha256"] == sha256


def test_archive_of_a_canonical_bundle_repacks_to_itself(node: NodePacker, tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    golden(root)
    data, _ = python_bundle(root)
    archive = tmp_path / "bundle.tgz"
    archive.write_bytes(data)
    assert node_bundle(node, tmp_path, "--archive", str(archive))[0] == data


# -- refusals ------------------------------------------------------------------------------------------


def fifo(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    os.mkfifo(root / "pipe")


def non_utf8_name(root: Path) -> None:
    write(root, "Dockerfile", "FROM scratch\n")
    (root / os.fsdecode(b"caf\xe9")).write_text("x")


BAD_TREES: dict[str, tuple[Callable[[Path], object], str | None]] = {
    "link-out": (lambda r: (write(r, "Dockerfile", "x"), link(r, "l", "../outside")), "l"),
    "link-absolute": (lambda r: (write(r, "Dockerfile", "x"), link(r, "l", "/etc/passwd")), "l"),
    "link-chain-out": (
        lambda r: (write(r, "Dockerfile", "x"), link(r, "s", "."), link(r, "t", "s/..")),
        "t",
    ),
    "link-loop": (
        lambda r: (write(r, "Dockerfile", "x"), link(r, "a", "b"), link(r, "b", "a")),
        "a",
    ),
    "bad-pattern": (
        lambda r: (write(r, "Dockerfile", "x"), write(r, ".dockerignore", "ok\n[\n")),
        ".dockerignore",
    ),
    "lone-bang": (
        lambda r: (write(r, "Dockerfile", "x"), write(r, ".dockerignore", "!\n")),
        ".dockerignore",
    ),
    "unicode-class": (
        lambda r: (write(r, "Dockerfile", "x"), write(r, ".dockerignore", "\\p{L}\n")),
        ".dockerignore",
    ),
    "ignore-not-utf8": (
        lambda r: (write(r, "Dockerfile", "x"), write(r, ".dockerignore", b"a\n\xff\n")),
        ".dockerignore",
    ),
    "no-dockerfile": (lambda r: write(r, "app.py", "x"), "Dockerfile"),
    "dockerfile-is-dir": (lambda r: write(r, "Dockerfile/x", "x"), "Dockerfile"),
    "fifo": (fifo, "pipe"),
    "non-utf8-name": (non_utf8_name, None),  # Python's path is surrogate-escaped, Node's has U+FFFD
    "daas-toml-link": (
        lambda r: (write(r, "Dockerfile", "x"), link(r, "daas.toml", "Dockerfile")),
        "daas.toml",
    ),
}


@pytest.mark.parametrize("name", BAD_TREES)
def test_both_refuse_bad_trees_alike(node: NodePacker, tmp_path: Path, name: str) -> None:
    build, path = BAD_TREES[name]
    root = tmp_path / "ctx"
    root.mkdir()
    build(root)
    with pytest.raises(PackError) as python_error:
        python_bundle(root)
    code, report, stderr = node(str(root))
    assert code == 1, report
    error = report["error"]
    assert error["message"] == str(python_error.value)
    assert stderr == f"pack: {python_error.value}\n"
    if path is not None:
        assert error["path"] == python_error.value.path == path


@pytest.mark.parametrize("dockerfile", ["../Dockerfile", "/Dockerfile", "."])
def test_both_refuse_a_dockerfile_path_outside(
    node: NodePacker, tmp_path: Path, dockerfile: str
) -> None:
    write(tmp_path, "Dockerfile", "x")
    with pytest.raises(PackError) as python_error:
        python_bundle(tmp_path, dockerfile)
    code, report, _ = node(str(tmp_path), "--dockerfile", dockerfile)
    assert code == 1
    assert report["error"]["message"] == str(python_error.value)


HOSTILE: dict[str, tuple[list[Entry], str]] = {
    "absolute": ([file("/etc/passwd")], "'/etc/passwd' is absolute"),
    "dotdot": ([file("a/../../x")], "'..' component"),
    "hard-link": ([Entry("h", kind=tarfile.LNKTYPE, linkname="Dockerfile")], "'h' is a hard link"),
    "char-device": ([Entry("null", kind=tarfile.CHRTYPE)], "'null' is a character device"),
    "fifo": ([Entry("pipe", kind=tarfile.FIFOTYPE)], "'pipe' is a FIFO"),
    "link-absolute": (
        [symlink("l", "/etc/passwd")],
        "'l' -> '/etc/passwd' points to an absolute path",
    ),
    "link-out": ([directory("a"), symlink("a/l", "../../x")], "'a/l' -> '../../x' points outside"),
    "link-chain-out": (
        [symlink("s", "."), symlink("t", "s/..")],
        "'t' -> 's/..' does not stay inside",
    ),
    "through-link": (
        [symlink("a", "."), file("a/passwd")],
        "'a/passwd' goes through 'a', a symbolic link",
    ),
    "duplicate": ([file("x"), file("x")], "'x' appears twice"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_archives_are_refused_by_both(node: NodePacker, tmp_path: Path, name: str) -> None:
    entries, message = HOSTILE[name]
    data = gz(tar_bytes([file("Dockerfile", b"FROM scratch\n"), *entries]))
    with pytest.raises(RequesterFault):
        unpack(data, tmp_path / "runner")
    archive = tmp_path / "hostile.tar.gz"
    archive.write_bytes(data)
    code, report, stderr = node("--archive", str(archive))
    assert code == 1, report
    assert message in report["error"]["message"]
    assert message in stderr


def test_archive_limits_and_bombs(node: NodePacker, tmp_path: Path) -> None:
    many = gz(
        tar_bytes([file("Dockerfile", b"FROM scratch\n")] + [file(f"f{i}") for i in range(30)])
    )
    archive = tmp_path / "many.tgz"
    archive.write_bytes(many)
    limits = BundleLimits(max_bundle_bytes=10**7, max_unpacked_bytes=10**6, max_files=20)
    with pytest.raises(RequesterFault, match="more than 20 entries"):
        unpack(many, tmp_path / "runner-many", limits=limits)
    code, report, _ = node("--archive", str(archive), "--max-entries", "20")
    assert code == 1
    assert report["error"]["message"] == "the archive has more than 20 entries (at 'f19')"

    # 64 MiB of zeros compress to about 64 KiB: refused while decompressing, never held in memory.
    bomb = gz(
        tar_bytes([file("Dockerfile", b"FROM scratch\n"), file("zeros", bytes(64 * 1024 * 1024))])
    )
    assert len(bomb) < 200_000
    archive = tmp_path / "bomb.tgz"
    archive.write_bytes(bomb)
    with pytest.raises(RequesterFault, match="unpacked size past"):
        unpack(bomb, tmp_path / "runner-bomb", limits=limits)
    code, report, _ = node(
        "--archive", str(archive), "--max-bytes", str(10**6), "--max-entries", "20"
    )
    assert code == 1
    assert report["error"]["code"] == "limit"
    assert "'zeros' takes the unpacked size past 1000000 bytes" in report["error"]["message"]

    padded = tar_bytes([file("Dockerfile", b"FROM scratch\n")]) + bytes(64 * 1024 * 1024)
    archive.write_bytes(gz(padded))
    code, report, _ = node(
        "--archive", str(archive), "--max-bytes", str(10**6), "--max-entries", "20"
    )
    assert code == 1
    assert report["error"]["message"].startswith("the archive decompresses to more than")


def test_not_an_archive_is_a_clear_error(node: NodePacker, tmp_path: Path) -> None:
    archive = tmp_path / "notes.tar.gz"
    archive.write_bytes(b"hello, world\n" * 100)
    result = run_cli("--archive", str(archive))
    assert result.returncode == 1
    assert result.stderr == "pack: not a tar archive: the first header has no ustar magic\n"
    assert json.loads(result.stdout)["error"] == {
        "code": "archive",
        "message": "not a tar archive: the first header has no ustar magic",
        "path": None,
    }
