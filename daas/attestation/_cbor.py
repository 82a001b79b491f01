"""Bounded CBOR decoding: the only place attestation code hands hostile bytes to cbor2.

Before cbor2 sees any input, `_scan` walks it once, iteratively, without building values, and admits only the
subset an NSM attestation document uses: integers, byte and text strings, definite-length arrays and maps,
``false``/``true``/``null``, and (where the caller allows it) one leading tag. It rejects

- a length that claims more bytes or items than remain in the input (so nothing is ever sized from a header),
- indefinite lengths, reserved additional-information values, floats and other simple values,
- any tag but the allowed leading one: cbor2 would otherwise run its semantic decoders (regular expressions,
  MIME messages, shared references, big decimals) on attacker-chosen values,
- nesting deeper than `MAX_DEPTH`, and trailing bytes after the item.

cbor2 then decodes what is left, also refusing duplicate map keys (fastcrypto rejects them too), and any error it
raises is mapped here, once, to `AttestationMalformed` naming the field.
"""

from __future__ import annotations

import cbor2

from daas.errors import AttestationMalformed

MAX_DEPTH = (
    4  # COSE array > unprotected map > ...; payload map > pcrs map / cabundle array: 2 suffices
)

_FALSE, _TRUE, _NULL = 20, 21, 22


def decode(data: bytes, *, field: str, allow_tag: int | None = None) -> tuple[bool, object]:
    """Decode one CBOR item that fills ``data`` exactly; returns ``(tagged, value)``.

    ``tagged`` says whether the item carried the leading tag ``allow_tag`` (which is stripped). Every failure is
    an `AttestationMalformed` with ``field`` set to the caller's field name.
    """
    tagged, start = _scan(data, field=field, allow_tag=allow_tag)
    try:
        # Any never leaves this function: the value is typed `object` and narrowed by the caller.
        value: object = cbor2.loads(
            data[start:],
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=MAX_DEPTH + 1,
        )
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise AttestationMalformed(f"{field}: invalid CBOR ({exc})", field=field) from exc
    return tagged, value


def encode(value: object) -> bytes:
    """Encode with definite lengths and shortest heads (the form COSE's Sig_structure is signed in)."""
    try:
        return cbor2.dumps(value)
    except (
        cbor2.CBORError,
        ValueError,
        TypeError,
    ) as exc:  # only reachable with a caller's bad value
        raise ValueError(f"cannot encode {type(value).__name__} as CBOR: {exc}") from exc


def _head(data: bytes, pos: int, field: str) -> tuple[int, int, int, int]:
    """Read one item head at ``pos``: ``(major type, additional info, argument, next position)``."""
    if pos >= len(data):
        raise _error(field, f"truncated at offset {pos}")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info > 27:
        # 28-30 are reserved; 31 is an indefinite length (or a break), which NSM documents never use.
        raise _error(field, f"indefinite length or reserved value at offset {pos - 1}")
    width = 1 << (info - 24)
    if pos + width > len(data):
        raise _error(field, f"truncated at offset {pos}")
    return major, info, int.from_bytes(data[pos : pos + width], "big"), pos + width


def _scan(data: bytes, *, field: str, allow_tag: int | None) -> tuple[bool, int]:
    """Check ``data`` is exactly one item of the admitted subset; return (tagged, offset after the tag)."""
    n = len(data)
    start = 0
    tagged = False
    major, _info, arg, after = _head(data, 0, field)
    if major == 6:
        if allow_tag is None or arg != allow_tag:
            raise _error(field, f"unexpected CBOR tag {arg}")
        tagged, start = True, after
    pos = start
    remaining = [
        1
    ]  # items still expected at each open level; the first entry is the top-level item
    while remaining:
        if remaining[-1] == 0:
            remaining.pop()
            continue
        remaining[-1] -= 1
        major, info, arg, pos = _head(data, pos, field)
        if major in (0, 1):  # unsigned / negative integer
            continue
        if major in (2, 3):  # byte / text string
            if arg > n - pos:
                raise _error(field, f"string of {arg} bytes at offset {pos} overruns the input")
            pos += arg
        elif major in (4, 5):  # array / map
            items = arg * 2 if major == 5 else arg
            if items > n - pos:  # every item takes at least one byte
                raise _error(
                    field, f"container of {arg} entries at offset {pos} overruns the input"
                )
            if len(remaining) > MAX_DEPTH:
                raise _error(field, f"nesting deeper than {MAX_DEPTH}")
            remaining.append(items)
        elif major == 6:
            raise _error(field, f"unexpected CBOR tag {arg}")
        elif info not in (_FALSE, _TRUE, _NULL):
            raise _error(field, f"unsupported CBOR simple value or float at offset {pos - 1}")
    if pos != n:
        raise _error(field, f"{n - pos} trailing bytes after the CBOR item")
    return tagged, start


def _error(field: str, reason: str) -> AttestationMalformed:
    return AttestationMalformed(f"{field}: {reason}", field=field)
