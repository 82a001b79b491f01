"""Read masks (`google.protobuf.FieldMask`) applied to betterproto2 messages, as a Sui node honours them.

A path `a.b.c` keeps field `c` of `b` of `a`; a path that names a field keeps its whole subtree; repeated
message fields apply the rest of the path to every element; `*` keeps everything at its level. Fields no
path names are left unset, so nothing the client did not ask for goes over the wire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

import betterproto2

M = TypeVar("M", bound=betterproto2.Message)

# A mask tree: field name -> subtree; an empty dict keeps the field whole.
MaskTree = dict[str, "MaskTree"]
ALL = "*"


def mask_tree(paths: Iterable[str]) -> MaskTree:
    tree: MaskTree = {}
    for path in paths:
        path = path.strip()
        if not path:
            continue
        node = tree
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if node.get(part) == {} and part in node:
                break  # an ancestor already keeps the whole subtree
            if depth == len(parts) - 1:
                node[part] = {}
            else:
                node = node.setdefault(part, {})
    return tree


def apply_mask(message: M, paths: Iterable[str] | None, default: Iterable[str]) -> M:
    """`message` reduced to `paths` (the RPC's documented `default` when the request has no mask)."""
    chosen = list(paths) if paths else list(default)
    return _apply(message, mask_tree(chosen))


def _apply(message: M, tree: MaskTree) -> M:
    if ALL in tree:
        return message
    kept: dict[str, Any] = {}
    # betterproto2 messages are dataclasses, but their base class does not say so to mypy.
    for field in dataclasses.fields(message):  # type: ignore[arg-type]
        sub = tree.get(field.name)
        if sub is None:
            continue
        value = getattr(message, field.name)
        if not sub:
            kept[field.name] = value
        elif isinstance(value, betterproto2.Message):
            kept[field.name] = _apply(value, sub)
        elif isinstance(value, list):
            kept[field.name] = [
                _apply(item, sub) if isinstance(item, betterproto2.Message) else item
                for item in value
            ]
        else:
            kept[field.name] = value
    return type(message)(**kept)
