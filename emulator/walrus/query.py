"""Query-string parsing with the daemon's strictness and error texts.

The daemon extracts queries with axum's `Query<T>` over `serde_urlencoded`, with `#[serde(deny_unknown_fields)]` on
the structs. A rejection is a plain-text 400 reading ``Failed to deserialize query string: <serde message>``. Serde
processes the pairs in order and stops at the first bad value; unknown keys are only reported after the known ones.
`PublisherQuery` flattens its `send_object_to` / `share` choice, so serde cannot list the expected fields for an
unknown key there, and the second of the two exclusive keys is reported as unknown.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl

from emulator.walrus.ids import parse_object_id

_PREFIX = "Failed to deserialize query string: "
_U32 = re.compile(r"^\+?[0-9]+$")
_U32_MAX = 2**32 - 1
ENCODING_TYPES = ("RS2",)


class QueryRejected(Exception):
    """A query the daemon's extractor refuses; `str(exc)` is the plain-text body of the 400."""


@dataclasses.dataclass(frozen=True)
class PublisherQuery:
    """`PUT /v1/blobs` parameters (`PublisherQuery` in the daemon)."""

    epochs: int = 1
    deletable: bool = False
    permanent: bool = False
    force: bool = False
    encoding_type: str | None = None
    quilt_version: str | None = None
    send_object_to: str | None = None
    share: bool = False


def _pairs(query_string: bytes) -> list[tuple[str, str]]:
    return parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)


def _u32(value: str) -> int:
    if value in ("", "+"):
        raise QueryRejected(_PREFIX + "cannot parse integer from empty string")
    if not _U32.match(value):
        raise QueryRejected(_PREFIX + "invalid digit found in string")
    number = int(value)
    if number > _U32_MAX:
        raise QueryRejected(_PREFIX + "number too large to fit in target type")
    return number


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise QueryRejected(_PREFIX + "provided string was not `true` or `false`")
    return value == "true"


def parse_publisher_query(query_string: bytes) -> PublisherQuery:
    """Parse `PUT /v1/blobs` parameters or raise `QueryRejected` with the daemon's message."""
    epochs = 1
    flags = {"deletable": False, "permanent": False, "force": False}
    texts: dict[str, str | None] = {"encoding_type": None, "quilt_version": None}
    seen: set[str] = set()
    flattened: list[tuple[str, str]] = []  # serde buffers the keys the struct does not name
    for key, value in _pairs(query_string):
        if key not in ("epochs", *flags, *texts):
            flattened.append((key, value))
            continue
        if key in seen:
            raise QueryRejected(_PREFIX + f"duplicate field `{key}`")
        seen.add(key)
        if key == "epochs":
            epochs = _u32(value)
        elif key in flags:
            flags[key] = _bool(value)
        elif key == "encoding_type" and value not in ENCODING_TYPES:
            expected = " or ".join(f"`{name}`" for name in ENCODING_TYPES)
            raise QueryRejected(_PREFIX + f"unknown variant `{value}`, expected {expected}")
        else:
            texts[key] = value
    # The flattened `SendOrShare` enum takes the first buffered key naming one of its variants;
    # a second one stays buffered and is reported as unknown.
    send_object_to: str | None = None
    share = False
    for index, (key, value) in enumerate(flattened):
        if key == "send_object_to":
            address = parse_object_id(value)
            if address is None or not value.startswith("0x"):
                raise QueryRejected(_PREFIX + f"invalid Sui address: {value!r}")
            send_object_to = address
        elif key == "share":
            share = _bool(value)
        else:
            continue
        del flattened[index]
        break
    if flattened:
        raise QueryRejected(_PREFIX + f"unknown field `{flattened[0][0]}`")
    return PublisherQuery(
        epochs=epochs,
        deletable=flags["deletable"],
        permanent=flags["permanent"],
        force=flags["force"],
        encoding_type=texts["encoding_type"],
        quilt_version=texts["quilt_version"],
        send_object_to=send_object_to,
        share=share,
    )


def parse_read_query(query_string: bytes) -> None:
    """Validate aggregator read parameters (`ReadOptions`); the stand-in has no consistency checks to tune."""
    names = ("strict_consistency_check", "skip_consistency_check")
    seen: set[str] = set()
    for key, value in _pairs(query_string):
        if key not in names:
            raise QueryRejected(
                _PREFIX + f"unknown field `{key}`, expected `{names[0]}` or `{names[1]}`"
            )
        if key in seen:
            raise QueryRejected(_PREFIX + f"duplicate field `{key}`")
        seen.add(key)
        _bool(value)
