"""The client's side: pack a directory into a canonical bundle (`daas submit`, and the browser's reference).

The same files give the same bytes on every machine: the entry list comes from `.dockerignore` with Docker's
semantics, entries are sorted by their UTF-8 path, and the encoding (`daas.bundle.format`, `docs/bundle.md`) fixes
every header field (modes 0644/0755, owners 0 and empty, mtime 0). The packer applies the runner's rules before
anything is uploaded: special files, names that are not UTF-8, links that leave the context, a missing
Dockerfile and an invalid `daas.toml` are refused here with the path at fault.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

from daas.bundle.config import CONFIG_FILE_NAME, BundleConfig, parse_bundle_config
from daas.bundle.format import (
    DIR_MODE,
    EXEC_MODE,
    FILE_MODE,
    GZIP_HEADER,
    STORED_BLOCK_MAX,
    SYMLINK_MODE,
    CanonicalGzipWriter,
    end_of_archive,
    entry_header,
    file_padding,
)
from daas.bundle.ignore import (
    IgnorePatternError,
    MatchInfo,
    PatternMatcher,
    read_ignore_patterns,
)
from daas.bundle.limits import BundleLimits
from daas.bundle.paths import (
    EntryKind,
    EntryTree,
    PathEscape,
    SymlinkLoop,
    UnsafeName,
    split_entry_name,
)
from daas.errors import DaasError, RequesterFault

__all__ = [
    "DOCKERIGNORE",
    "BundleEntry",
    "PackError",
    "PackProgress",
    "PackedBundle",
    "collect_entries",
    "pack_directory",
]

DOCKERIGNORE = ".dockerignore"
_READ_CHUNK = 1024 * 1024
_SPOOL_BYTES = 32 * 1024 * 1024
_MAX_IGNORE_BYTES = 1024 * 1024


class PackError(DaasError):
    """A directory that cannot be packed; `path` (relative to the context) names the culprit when there is one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class BundleEntry:
    """One entry of a bundle, as it is written."""

    path: str  # relative, slash-separated, no trailing slash
    kind: EntryKind
    mode: int
    size: int = 0
    target: str | None = None  # symbolic links only


@dataclass(frozen=True)
class PackProgress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[PackProgress], None]


class PackedBundle:
    """A packed bundle: its bytes (in memory, or in a temporary file for big trees) and what it holds.

    Close it (or use it as a context manager) to drop the temporary file.
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        sha256: bytes,
        size: int,
        entries: tuple[BundleEntry, ...],
        dockerfile: str,
        config: BundleConfig,
    ) -> None:
        self._file = file
        self.sha256 = sha256
        self.size = size
        self.entries = entries
        self.dockerfile = dockerfile
        self.config = config
        self.file_count = sum(1 for e in entries if e.kind is EntryKind.FILE)
        self.unpacked_bytes = sum(e.size for e in entries)

    def open(self) -> BinaryIO:
        """The bundle's bytes as a file, rewound; valid until `close`."""
        self._file.seek(0)
        return self._file  # type: ignore[return-value]

    def read_bytes(self) -> bytes:
        return self.open().read()

    def write_to(self, path: Path) -> None:
        source = self.open()
        with path.open("wb") as out:
            while chunk := source.read(_READ_CHUNK):
                out.write(chunk)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PackedBundle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _relative(name: str, what: str = "path") -> tuple[str, ...]:
    try:
        return split_entry_name(name, what=what)
    except UnsafeName as exc:
        raise PackError(str(exc), path=name) from None


def _check_utf8(rel: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(rel)
        raise PackError(
            f"{raw!r}: file names must be valid UTF-8 (rename it or add it to .dockerignore)",
            path=rel,
        ) from None


def _read_dockerignore(root: Path) -> PatternMatcher:
    path = root / DOCKERIGNORE
    try:
        info = path.lstat()
    except FileNotFoundError:
        return PatternMatcher([])
    if not stat.S_ISREG(info.st_mode):
        raise PackError(f"{DOCKERIGNORE} must be a regular file", path=DOCKERIGNORE)
    if info.st_size > _MAX_IGNORE_BYTES:
        raise PackError(f"{DOCKERIGNORE} is larger than 1 MiB", path=DOCKERIGNORE)
    try:
        return PatternMatcher(read_ignore_patterns(path.read_bytes()))
    except IgnorePatternError as exc:
        raise PackError(f"{DOCKERIGNORE}: {exc}", path=DOCKERIGNORE) from None


def _describe_mode(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:k]) for k in range(1, len(parts))]


def collect_entries(
    root: str | os.PathLike[str], *, dockerfile: str = "Dockerfile"
) -> tuple[list[BundleEntry], str]:
    """The entries a bundle of `root` holds (sorted) and the normalised Dockerfile path.

    Like `docker build`, the walk honours `.dockerignore` and always keeps `.dockerignore` and the Dockerfile;
    `daas.toml` is kept too, since the runner reads it. Raises `PackError`.
    """
    base = Path(root)
    if not base.is_dir():
        raise PackError(f"{base} is not a directory")
    dockerfile_path = "/".join(_relative(dockerfile, "Dockerfile path"))
    if not dockerfile_path:
        raise PackError("the Dockerfile path names the context itself", path=dockerfile)
    matcher = _read_dockerignore(base)
    forced = {DOCKERIGNORE, CONFIG_FILE_NAME, dockerfile_path}
    forced_dirs = {parent for path in forced for parent in _ancestors(path)}

    leaves: list[BundleEntry] = []
    pending: list[tuple[str, MatchInfo | None]] = [("", None)]
    while pending:
        rel_dir, info = pending.pop()
        try:
            with os.scandir(base / rel_dir if rel_dir else base) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise PackError(
                f"cannot read directory {rel_dir or '.'}: {exc.strerror}", path=rel_dir
            ) from None
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            excluded, child_info = matcher.matches_using_parent_results(rel, info)
            if rel in forced:
                excluded = False
            try:
                child_stat = child.stat(follow_symlinks=False)
            except OSError as exc:
                raise PackError(f"cannot stat {rel}: {exc.strerror}", path=rel) from None
            if stat.S_ISDIR(child_stat.st_mode):
                # Like Docker's walk: an excluded directory is entered only if an exception may apply inside.
                if not excluded or matcher.may_include_under(rel) or rel in forced_dirs:
                    _check_utf8(rel)
                    pending.append((rel, child_info))
                continue
            if excluded:
                continue
            _check_utf8(rel)
            _relative(rel)
            leaves.append(_leaf(rel, child.path, child_stat))
    return _with_directories(leaves), dockerfile_path


def _leaf(rel: str, full_path: str, info: os.stat_result) -> BundleEntry:
    if stat.S_ISREG(info.st_mode):
        mode = EXEC_MODE if info.st_mode & stat.S_IXUSR else FILE_MODE
        return BundleEntry(rel, EntryKind.FILE, mode, info.st_size)
    if stat.S_ISLNK(info.st_mode):
        # os.readlink, not Path.readlink: a Path would normalise the target text ("a//b", "./x").
        target = os.readlink(full_path)  # noqa: PTH115
        try:
            target.encode("utf-8")
        except UnicodeEncodeError:
            raise PackError(
                f"symbolic link {rel} has a target that is not UTF-8", path=rel
            ) from None
        if not target or target.startswith("/"):
            raise PackError(
                f"symbolic link {rel} -> {target!r} points to an absolute path; the runner refuses "
                "links that leave the context (make it relative or add it to .dockerignore)",
                path=rel,
            )
        return BundleEntry(rel, EntryKind.SYMLINK, SYMLINK_MODE, 0, target)
    raise PackError(
        f"{rel} is {_describe_mode(info.st_mode)}; a bundle holds only regular files, directories "
        "and symbolic links (add it to .dockerignore)",
        path=rel,
    )


def _with_directories(leaves: list[BundleEntry]) -> list[BundleEntry]:
    # Directories are the parents of what is packed: an empty directory is not part of a bundle.
    dirs = {parent for leaf in leaves for parent in _ancestors(leaf.path)}
    entries = leaves + [BundleEntry(path, EntryKind.DIR, DIR_MODE) for path in dirs]
    entries.sort(key=lambda e: e.path.encode("utf-8"))
    return entries


def _check_tree(base: Path, entries: list[BundleEntry], dockerfile: str) -> EntryTree:
    tree = EntryTree()
    for entry in entries:
        tree.add(tuple(entry.path.split("/")), entry.kind, entry.target)
    for path, target in tree.symlinks():
        try:
            tree.check_symlink(path)
        except (PathEscape, SymlinkLoop) as exc:
            raise PackError(
                f"symbolic link {path} -> {target!r} does not stay inside the context: {exc}",
                path=path,
            ) from None
    kind, _ = tree.resolve(dockerfile)
    if kind is None and not (base / dockerfile).is_dir():  # an empty directory is not an entry
        raise PackError(f"no Dockerfile at {dockerfile!r} in the directory", path=dockerfile)
    if kind is not EntryKind.FILE:
        raise PackError(f"the Dockerfile path {dockerfile!r} is a directory", path=dockerfile)
    return tree


def _read_config(base: Path, tree: EntryTree) -> BundleConfig:
    kind = tree.get(CONFIG_FILE_NAME)
    if kind is None:
        return BundleConfig()
    if kind is not EntryKind.FILE:
        raise PackError(f"{CONFIG_FILE_NAME} must be a regular file", path=CONFIG_FILE_NAME)
    try:
        return parse_bundle_config((base / CONFIG_FILE_NAME).read_bytes())
    except RequesterFault as exc:
        raise PackError(str(exc), path=CONFIG_FILE_NAME) from None


def _encoded_size(entries: list[BundleEntry]) -> int:
    """The bundle's size in bytes, known before writing it (stored blocks do not compress)."""
    tar = len(end_of_archive())
    for entry in entries:
        tar += len(
            entry_header(entry.path, entry.kind, mode=entry.mode, size=0, target=entry.target)
        )
        tar += entry.size + len(file_padding(entry.size))
    blocks = -(-tar // STORED_BLOCK_MAX)
    return len(GZIP_HEADER) + tar + 5 * blocks + 8


def _check_limits(entries: list[BundleEntry], limits: BundleLimits) -> None:
    if len(entries) > limits.max_files:
        raise PackError(
            f"the bundle would have {len(entries)} entries; at most {limits.max_files} are accepted"
        )
    unpacked = sum(e.size for e in entries)
    if unpacked > limits.max_unpacked_bytes:
        raise PackError(
            f"the files add up to {unpacked} bytes; at most {limits.max_unpacked_bytes} are accepted"
        )
    size = _encoded_size(entries)
    if size > limits.max_bundle_bytes:
        raise PackError(
            f"the bundle would be {size} bytes; at most {limits.max_bundle_bytes} are accepted"
        )


def _copy_file(
    base: Path, entry: BundleEntry, writer: CanonicalGzipWriter, progress: Callable[[int], None]
) -> None:
    try:
        fd = os.open(base / entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise PackError(f"cannot read {entry.path}: {exc.strerror}", path=entry.path) from None
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            raise PackError(f"{entry.path} changed while it was being packed", path=entry.path)
        remaining = entry.size
        while remaining:
            chunk = file.read(min(remaining, _READ_CHUNK))
            if not chunk:
                raise PackError(f"{entry.path} shrank while it was being packed", path=entry.path)
            writer.write(chunk)
            remaining -= len(chunk)
            progress(len(chunk))
        if file.read(1):
            raise PackError(f"{entry.path} grew while it was being packed", path=entry.path)


def pack_directory(
    path: str | os.PathLike[str],
    *,
    dockerfile: str = "Dockerfile",
    on_progress: ProgressCallback | None = None,
    limits: BundleLimits | None = None,
    spool_bytes: int = _SPOOL_BYTES,
) -> PackedBundle:
    """Pack `path` into a canonical bundle; `limits` refuses what the runner would (before writing).

    Bundles up to `spool_bytes` stay in memory, bigger ones go to a temporary file. Raises `PackError`.
    """
    base = Path(path)
    entries, dockerfile_path = collect_entries(base, dockerfile=dockerfile)
    tree = _check_tree(base, entries, dockerfile_path)
    config = _read_config(base, tree)
    if limits is not None:
        _check_limits(entries, limits)

    files_total = sum(1 for e in entries if e.kind is EntryKind.FILE)
    bytes_total = sum(e.size for e in entries)
    done = PackProgress(0, files_total, 0, bytes_total)

    def advance(nbytes: int, nfiles: int = 0) -> None:
        nonlocal done
        done = PackProgress(
            done.files_done + nfiles, files_total, done.bytes_done + nbytes, bytes_total
        )
        if on_progress is not None:
            on_progress(done)

    # Not a `with`: the spool outlives this call as the PackedBundle's storage.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=spool_bytes, prefix="daas-bundle-"
    )
    try:
        writer = CanonicalGzipWriter(spool)
        for entry in entries:
            writer.write(
                entry_header(
                    entry.path, entry.kind, mode=entry.mode, size=entry.size, target=entry.target
                )
            )
            if entry.kind is EntryKind.FILE:
                _copy_file(base, entry, writer, advance)
                writer.write(file_padding(entry.size))
                advance(0, 1)
        writer.write(end_of_archive())
        sha256 = writer.close()
    except BaseException:
        spool.close()
        raise
    return PackedBundle(
        spool,
        sha256=sha256,
        size=writer.size,
        entries=tuple(entries),
        dockerfile=dockerfile_path,
        config=config,
    )
