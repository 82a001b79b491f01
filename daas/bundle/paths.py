"""Path rules shared by the packer and the unpacker: entry names, and symbolic links resolved inside the context.

Both sides apply the same rules, so `daas submit` refuses a tree the runner would refuse and says why before
anything is uploaded. `EntryTree` is an in-memory view of a bundle's entries; `EntryTree.resolve` follows symbolic
links the way the kernel would, but inside the context only: a `..` that would climb above the context root (even
through a chain of links such as `s -> .` then `t -> s/..`) or an absolute target is an escape.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "EntryKind",
    "EntryTree",
    "PathEscape",
    "SymlinkLoop",
    "UnsafeName",
    "split_entry_name",
]

MAX_PATH_BYTES = 4095  # PATH_MAX minus the terminating NUL
MAX_COMPONENT_BYTES = 255  # NAME_MAX
# Linux follows at most 40 links in one lookup; a longer chain is a loop or an attack.
MAX_SYMLINK_HOPS = 40


class UnsafeName(ValueError):
    """An entry name or link target that cannot be placed inside the context; the message says why."""


class PathEscape(UnsafeName):
    """A path that resolves outside the context."""


class SymlinkLoop(UnsafeName):
    """A path whose resolution follows more than `MAX_SYMLINK_HOPS` symbolic links."""


class EntryKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


def split_entry_name(name: str, *, what: str = "path") -> tuple[str, ...]:
    """The components of a relative slash path; `.` and empty components are dropped, `..` is refused."""
    if "\x00" in name:
        raise UnsafeName(f"{what} {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeName(f"{what} {name!r} is absolute")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UnsafeName(f"{what} {name!r} has a '..' component")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UnsafeName(f"{what} {name[:64]!r}... is longer than {MAX_PATH_BYTES} bytes")
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise UnsafeName(
                f"{what} {name!r} has a component longer than {MAX_COMPONENT_BYTES} bytes"
            )
    return parts


@dataclass(frozen=True)
class _Node:
    kind: EntryKind
    target: str | None = None


class EntryTree:
    """The entries of a bundle by path; parent directories are implied."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}

    def get(self, path: str) -> EntryKind | None:
        if path == "":
            return EntryKind.DIR
        node = self._nodes.get(path)
        return node.kind if node else None

    def add(self, parts: tuple[str, ...], kind: EntryKind, target: str | None = None) -> None:
        """Record an entry; the caller has checked that it is new and that its parents are directories."""
        for depth in range(1, len(parts)):
            self._nodes.setdefault("/".join(parts[:depth]), _Node(EntryKind.DIR))
        self._nodes["/".join(parts)] = _Node(kind, target)

    def paths(self, kind: EntryKind) -> list[str]:
        """The paths of one kind of entry, parent directories before their children."""
        return sorted(path for path, node in self._nodes.items() if node.kind is kind)

    def symlinks(self) -> list[tuple[str, str]]:
        return [
            (path, node.target)
            for path, node in self._nodes.items()
            if node.kind is EntryKind.SYMLINK and node.target is not None
        ]

    def check_symlink(self, path: str) -> None:
        """Raise `PathEscape` or `SymlinkLoop` if the link at `path` leads outside the context."""
        self.resolve(path)

    def resolve(self, path: str) -> tuple[EntryKind | None, str]:
        """Follow `path` through the tree's links: (kind of what it names or None if missing, resolved path)."""
        stack: list[str] = []
        pending = deque(path.split("/"))
        hops = 0
        missing = (
            False  # past a missing component the rest is applied lexically, as a conservative bound
        )
        kind: EntryKind | None = EntryKind.DIR
        via = ""
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise PathEscape(f"{path!r} leads above the context root{via}")
                stack.pop()
                if not missing:
                    kind = EntryKind.DIR
                continue
            if missing:
                stack.append(part)
                continue
            node = self._nodes.get("/".join([*stack, part]))
            if node is None:
                missing = True
                kind = None
                stack.append(part)
            elif node.kind is EntryKind.SYMLINK:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoop(f"{path!r} follows more than {MAX_SYMLINK_HOPS} links")
                target = node.target or ""
                link = "/".join([*stack, part])
                if target.startswith("/"):
                    raise PathEscape(
                        f"{path!r} goes through {link!r} -> {target!r}, an absolute path"
                    )
                via = f" (through {link!r} -> {target!r})"
                pending.extendleft(reversed(target.split("/")))
            elif node.kind is EntryKind.FILE and any(p not in ("", ".") for p in pending):
                # "file/..." cannot be opened (ENOTDIR), so it cannot lead anywhere.
                return None, "/".join([*stack, part, *pending])
            else:
                kind = node.kind
                stack.append(part)
        return kind, "/".join(stack)
