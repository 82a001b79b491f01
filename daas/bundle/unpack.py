"""The runner's side: check a downloaded bundle and unpack it safely into a build context.

Nothing in the archive is trusted. In order:

1. size and sha256 against the on-chain spec, before a single byte is decompressed;
2. a streaming gunzip with a cap on its output, and a tar reader that bounds every allocation (`tarstream`);
3. per entry: the entry count cap, the kind (only regular files, directories and symbolic links), the name
   (UTF-8, relative, no `..`, no NUL, within PATH_MAX / NAME_MAX), duplicates, parents that are not directories
   (`a -> /etc` then `a/passwd`), absolute or escaping link targets, the unpacked-bytes cap counted on the bytes
   actually written;
4. creation through directory file descriptors with `O_NOFOLLOW` at every level and `O_EXCL` for new files, so
   even a check missed above could not make a write leave the destination;
5. after the last entry: every symbolic link resolved inside the context (chains included), the Dockerfile
   path resolved to a regular file, and `daas.toml` parsed.

Modes are normalised (0644, or 0755 when any execute bit is set; 0755 for directories), so setuid, setgid and
sticky bits are dropped; owners are never applied. Each file gets the entry's mtime (0 in canonical bundles), so
the files Docker copies into image layers do not carry the time of the download. Any refusal is a
`RequesterFault` with the code and a reason naming the entry, and leaves the destination empty.

`tarfile` is not used: its extraction filters (`tarfile.data_filter`, present in 3.11.4+) allow hard links and
would still leave the parsing of hostile headers (unbounded pax headers, ambiguous sizes) to code we do not control.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from daas.bundle.config import (
    CONFIG_FILE_NAME,
    MAX_CONFIG_BYTES,
    BundleConfig,
    parse_bundle_config,
)
from daas.bundle.format import DIR_MODE, EXEC_MODE, FILE_MODE
from daas.bundle.ignore import go_clean
from daas.bundle.limits import BundleLimits
from daas.bundle.paths import (
    EntryKind,
    EntryTree,
    PathEscape,
    SymlinkLoop,
    UnsafeName,
    split_entry_name,
)
from daas.bundle.tarstream import CHUNK_SIZE, GzipStream, TarMember, TarReader
from daas.errors import BuildFailureCode, RequesterFault

__all__ = ["UnpackedBundle", "unpack_bundle"]

_MAX_MTIME = 2**33

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Code = BuildFailureCode


@dataclass(frozen=True)
class UnpackedBundle:
    """A checked build context on disk."""

    context_dir: Path
    dockerfile: str  # normalised, relative to context_dir
    config: BundleConfig
    file_count: int  # regular files
    entry_count: int  # files, directories and symbolic links
    unpacked_bytes: int  # bytes of file data written


def _fault(code: BuildFailureCode, message: str) -> RequesterFault:
    return RequesterFault(code, message)


def _normalise_dockerfile(dockerfile: str) -> str:
    if not dockerfile:
        raise _fault(Code.DOCKERFILE_NOT_FOUND, "the build request names no Dockerfile")
    try:
        parts = split_entry_name(dockerfile, what="Dockerfile path")
    except UnsafeName as exc:
        raise _fault(Code.BUNDLE_UNSAFE_PATH, f"{exc}: it must stay inside the context") from None
    if not parts:
        raise _fault(
            Code.DOCKERFILE_NOT_FOUND, f"Dockerfile path {dockerfile!r} names the context itself"
        )
    return "/".join(parts)


@contextmanager
def _open_source(source: bytes | BinaryIO | Path) -> Iterator[BinaryIO]:
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    elif isinstance(source, Path):
        with source.open("rb") as file:
            yield file
    else:
        yield source


def _check_blob(
    raw: BinaryIO, *, expected_sha256: bytes, expected_size: int | None, limits: BundleLimits
) -> None:
    size = raw.seek(0, io.SEEK_END)
    raw.seek(0)
    if expected_size is not None and expected_size > limits.max_bundle_bytes:
        raise _fault(
            Code.BUNDLE_TOO_LARGE,
            f"the bundle is declared as {expected_size} bytes; at most {limits.max_bundle_bytes} are accepted",
        )
    if size > limits.max_bundle_bytes:
        raise _fault(
            Code.BUNDLE_TOO_LARGE,
            f"the bundle is {size} bytes; at most {limits.max_bundle_bytes} are accepted",
        )
    if expected_size is not None and size != expected_size:
        raise _fault(
            Code.BUNDLE_DIGEST_MISMATCH,
            f"the bundle is {size} bytes but the request says {expected_size}",
        )
    digest = hashlib.sha256()
    while chunk := raw.read(CHUNK_SIZE):
        digest.update(chunk)
    actual = digest.digest()
    raw.seek(0)
    if not hmac.compare_digest(actual, expected_sha256):
        raise _fault(
            Code.BUNDLE_DIGEST_MISMATCH,
            f"the bundle's sha256 is {actual.hex()} but the request says {expected_sha256.hex()}",
        )


class _Extractor:
    """Creates entries under `root_fd`, never following a link, and remembers them in an `EntryTree`."""

    def __init__(self, root_fd: int, limits: BundleLimits) -> None:
        self._root_fd = root_fd
        self._limits = limits
        self.tree = EntryTree()
        self._explicit: set[str] = set()
        self._dir_mtimes: dict[str, int] = {"": 0}
        self.entries = 0
        self.files = 0
        self.bytes_written = 0
        self._cached_parent: tuple[str, int] | None = None

    def close(self) -> None:
        if self._cached_parent is not None:
            os.close(self._cached_parent[1])
            self._cached_parent = None

    # -- directory descriptors -------------------------------------------------------------------------

    def _parent_fd(self, parts: tuple[str, ...], name: str) -> int:
        """An fd of the directory `parts`, creating missing directories; entries arrive sorted, so cache one."""
        key = "/".join(parts)
        if self._cached_parent is not None and self._cached_parent[0] == key:
            return self._cached_parent[1]
        fd = os.dup(self._root_fd)
        try:
            for depth, part in enumerate(parts, start=1):
                fd = self._enter(fd, part, parts[:depth], name)
        except BaseException:
            os.close(fd)
            raise
        self.close()
        self._cached_parent = (key, fd)
        return fd

    def _enter(self, fd: int, part: str, path: tuple[str, ...], name: str) -> int:
        try:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, DIR_MODE, dir_fd=fd)
                self.tree.add(path, EntryKind.DIR)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.fchmod(child, DIR_MODE)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _fault(
                    Code.BUNDLE_UNSAFE_PATH,
                    f"entry {name!r}: {'/'.join(path)!r} is not a directory on disk",
                ) from None
            raise
        finally:
            os.close(fd)
        return child

    # -- entries ----------------------------------------------------------------------------------------

    def add(self, member: TarMember, reader: TarReader) -> None:
        if member.kind not in ("file", "dir", "symlink"):
            what = "a hard link" if member.kind == "hardlink" else f"a {member.kind}"
            raise _fault(
                Code.BUNDLE_UNSAFE_ENTRY,
                f"entry {member.name!r} is {what}; bundles hold only regular files, directories and "
                "symbolic links",
            )
        try:
            parts = split_entry_name(member.name, what="entry")
        except UnsafeName as exc:
            raise _fault(Code.BUNDLE_UNSAFE_PATH, str(exc)) from None
        if not parts:
            if member.kind != "dir":
                raise _fault(Code.BUNDLE_MALFORMED, f"entry {member.name!r} names the context root")
            self._dir_mtimes[""] = member.mtime
            return
        self.entries += 1
        if self.entries > self._limits.max_files:
            raise _fault(
                Code.BUNDLE_TOO_MANY_FILES,
                f"the bundle has more than {self._limits.max_files} entries (at {member.name!r})",
            )
        path = "/".join(parts)
        self._check_place(member, parts, path)
        if member.kind == "file":
            self._write_file(member, reader, parts)
        elif member.kind == "dir":
            self._make_dir(member, parts, path)
        else:
            self._make_symlink(member, parts)
        self._explicit.add(path)

    def _check_place(self, member: TarMember, parts: tuple[str, ...], path: str) -> None:
        if path in self._explicit:
            raise _fault(Code.BUNDLE_UNSAFE_ENTRY, f"entry {member.name!r} appears twice")
        existing = self.tree.get(path)
        if existing is not None and member.kind != "dir":
            raise _fault(
                Code.BUNDLE_UNSAFE_ENTRY,
                f"entry {member.name!r} would replace the directory holding earlier entries",
            )
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            kind = self.tree.get(parent)
            if kind is EntryKind.SYMLINK:
                raise _fault(
                    Code.BUNDLE_UNSAFE_PATH,
                    f"entry {member.name!r} goes through {parent!r}, a symbolic link",
                )
            if kind is EntryKind.FILE:
                raise _fault(
                    Code.BUNDLE_UNSAFE_PATH,
                    f"entry {member.name!r} goes through {parent!r}, a regular file",
                )

    def _budget(self, member: TarMember, size: int) -> None:
        if self.bytes_written + size > self._limits.max_unpacked_bytes:
            raise _fault(
                Code.BUNDLE_TOO_LARGE,
                f"entry {member.name!r} takes the unpacked size past "
                f"{self._limits.max_unpacked_bytes} bytes",
            )

    def _write_file(self, member: TarMember, reader: TarReader, parts: tuple[str, ...]) -> None:
        self._budget(member, member.size)  # the declared size first: a bomb fails before writing
        parent = self._parent_fd(parts[:-1], member.name)
        try:
            fd = os.open(parts[-1], _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            raise _fault(
                Code.BUNDLE_UNSAFE_ENTRY, f"entry {member.name!r} already exists"
            ) from None
        self.tree.add(parts, EntryKind.FILE)
        try:
            while True:
                piece = reader.read_data(CHUNK_SIZE)
                if not piece:
                    break
                self._budget(member, len(piece))  # and the bytes actually written
                while piece:
                    written = os.write(fd, piece)
                    self.bytes_written += written
                    piece = piece[written:]
            os.fchmod(fd, EXEC_MODE if member.mode & 0o111 else FILE_MODE)
            mtime = _mtime_ns(member.mtime)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)
        self.files += 1

    def _make_dir(self, member: TarMember, parts: tuple[str, ...], path: str) -> None:
        parent = self._parent_fd(parts[:-1], member.name)
        if self.tree.get(path) is None:
            os.mkdir(parts[-1], DIR_MODE, dir_fd=parent)
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError:
            raise _fault(
                Code.BUNDLE_UNSAFE_PATH, f"entry {member.name!r} is not a directory on disk"
            ) from None
        try:
            os.fchmod(fd, DIR_MODE)
        finally:
            os.close(fd)
        self.tree.add(parts, EntryKind.DIR)
        self._dir_mtimes[path] = member.mtime

    def _make_symlink(self, member: TarMember, parts: tuple[str, ...]) -> None:
        target = member.linkname
        if not target:
            raise _fault(
                Code.BUNDLE_MALFORMED, f"symbolic link {member.name!r} has an empty target"
            )
        if "\x00" in target:
            raise _fault(
                Code.BUNDLE_UNSAFE_PATH, f"symbolic link {member.name!r} has a NUL in its target"
            )
        if target.startswith("/"):
            raise _fault(
                Code.BUNDLE_UNSAFE_PATH,
                f"symbolic link {member.name!r} -> {target!r} points to an absolute path",
            )
        if len(target.encode()) > 4095:
            raise _fault(
                Code.BUNDLE_UNSAFE_PATH,
                f"symbolic link {member.name!r} has a target over 4095 bytes",
            )
        lexical = go_clean("/".join([*parts[:-1], target]))
        if lexical == ".." or lexical.startswith("../"):
            raise _fault(
                Code.BUNDLE_UNSAFE_PATH,
                f"symbolic link {member.name!r} -> {target!r} points outside the context",
            )
        parent = self._parent_fd(parts[:-1], member.name)
        try:
            os.symlink(target, parts[-1], dir_fd=parent)
        except FileExistsError:
            raise _fault(
                Code.BUNDLE_UNSAFE_ENTRY, f"entry {member.name!r} already exists"
            ) from None
        mtime = _mtime_ns(member.mtime)
        os.utime(parts[-1], ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
        self.tree.add(parts, EntryKind.SYMLINK, target)

    # -- after the last entry ---------------------------------------------------------------------------

    def check_links(self) -> None:
        for path, target in self.tree.symlinks():
            try:
                self.tree.check_symlink(path)
            except (PathEscape, SymlinkLoop) as exc:
                raise _fault(
                    Code.BUNDLE_UNSAFE_PATH,
                    f"symbolic link {path!r} -> {target!r} does not stay inside the context: {exc}",
                ) from None

    def set_dir_mtimes(self) -> None:
        # Last, because creating entries in a directory changes its mtime.
        for path in self.tree.paths(EntryKind.DIR):
            parts = tuple(path.split("/"))
            mtime = _mtime_ns(self._dir_mtimes.get(path, 0))
            parent = self._parent_fd(parts[:-1], path)
            os.utime(parts[-1], ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
        root_mtime = _mtime_ns(self._dir_mtimes[""])
        os.utime(self._root_fd, ns=(root_mtime, root_mtime))


def _mtime_ns(mtime: int) -> int:
    return min(max(mtime, 0), _MAX_MTIME) * 1_000_000_000


def _prepare_dest(dest: Path) -> bool:
    """Create `dest` (True) or accept an existing empty directory (False)."""
    try:
        dest.mkdir(mode=DIR_MODE)
        return True
    except FileExistsError:
        if dest.is_symlink() or not dest.is_dir() or any(dest.iterdir()):
            raise ValueError(f"{dest} exists and is not an empty directory") from None
        return False


def _clean(dest: Path, created: bool) -> None:
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _read_config(root_fd: int, tree: EntryTree) -> BundleConfig:
    kind = tree.get(CONFIG_FILE_NAME)
    if kind is None:
        return BundleConfig()
    if kind is not EntryKind.FILE:
        raise _fault(
            Code.INVALID_BUILD_CONFIG,
            f"{CONFIG_FILE_NAME} must be a regular file at the bundle root, not a {kind.value}",
        )
    fd = os.open(CONFIG_FILE_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_CONFIG_BYTES + 1)
    return parse_bundle_config(data)


def _check_dockerfile(tree: EntryTree, dockerfile: str) -> None:
    try:
        kind, resolved = tree.resolve(dockerfile)
    except (PathEscape, SymlinkLoop) as exc:
        raise _fault(Code.BUNDLE_UNSAFE_PATH, f"Dockerfile path: {exc}") from None
    if kind is EntryKind.FILE:
        return
    if kind is None:
        raise _fault(Code.DOCKERFILE_NOT_FOUND, f"the bundle has no Dockerfile at {dockerfile!r}")
    raise _fault(
        Code.DOCKERFILE_NOT_FOUND,
        f"the Dockerfile path {dockerfile!r} names a directory ({resolved or '.'!r}), not a file",
    )


def unpack_bundle(
    source: bytes | BinaryIO | Path,
    dest: Path,
    *,
    expected_sha256: bytes,
    expected_size: int | None,
    limits: BundleLimits,
    dockerfile: str = "Dockerfile",
) -> UnpackedBundle:
    """Check `source` against the spec and unpack it into `dest` (created, or an existing empty directory).

    `source` is the bundle's bytes, a seekable binary file, or a path. Raises `RequesterFault` for anything
    wrong with the bundle; `dest` is left empty (or absent, if this call created it) on any failure.
    """
    if len(expected_sha256) != 32:
        raise ValueError("expected_sha256 must be 32 bytes")
    dockerfile_path = _normalise_dockerfile(dockerfile)
    with _open_source(source) as raw:
        _check_blob(
            raw, expected_sha256=expected_sha256, expected_size=expected_size, limits=limits
        )
        created = _prepare_dest(dest)
        try:
            root_fd = os.open(dest, _DIR_FLAGS)
            extractor = _Extractor(root_fd, limits)
            try:
                reader = TarReader(GzipStream(raw, max_output=limits.max_stream_bytes))
                while (member := reader.next()) is not None:
                    extractor.add(member, reader)
                reader.finish()
                extractor.check_links()
                _check_dockerfile(extractor.tree, dockerfile_path)
                config = _read_config(root_fd, extractor.tree)
                extractor.set_dir_mtimes()
            finally:
                extractor.close()
                os.close(root_fd)
        except BaseException:
            _clean(dest, created)
            raise
    return UnpackedBundle(
        context_dir=dest,
        dockerfile=dockerfile_path,
        config=config,
        file_count=extractor.files,
        entry_count=extractor.entries,
        unpacked_bytes=extractor.bytes_written,
    )
