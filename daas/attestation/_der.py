"""Just enough DER to read a certificate's serial number before cryptography loads it."""

from __future__ import annotations


def serial_problem(der: bytes) -> str | None:
    """Why the certificate's serialNumber is not a positive INTEGER (RFC 5280 4.1.2.2), or None.

    cryptography loads a non-positive serial but warns that a future release will refuse it; we refuse it now,
    before loading, so the outcome never depends on the process's warning filters.
    """
    try:
        pos = _enter(der, 0, 0x30)  # Certificate
        pos = _enter(der, pos, 0x30)  # TBSCertificate
        if der[pos] == 0xA0:  # [0] EXPLICIT version
            pos = _skip(der, pos)
        start = _enter(der, pos, 0x02)
        end = _skip(der, pos)
    except (IndexError, ValueError):
        return "not a DER certificate (no serialNumber)"
    if start == end or int.from_bytes(der[start:end], "big", signed=True) <= 0:
        return "serialNumber is not a positive integer (RFC 5280)"
    return None


def _enter(der: bytes, pos: int, tag: int) -> int:
    """Position of the content of the DER element at ``pos``, which must carry ``tag``."""
    if der[pos] != tag:
        raise ValueError(f"expected DER tag {tag:#x} at {pos}")
    return _content(der, pos)[0]


def _skip(der: bytes, pos: int) -> int:
    """Position just after the DER element at ``pos``."""
    start, length = _content(der, pos)
    if start + length > len(der):
        raise ValueError("DER element overruns its input")
    return start + length


def _content(der: bytes, pos: int) -> tuple[int, int]:
    """``(content start, content length)`` of the DER element at ``pos`` (one-byte tags only)."""
    first = der[pos + 1]
    if first < 0x80:
        return pos + 2, first
    width = first & 0x7F
    if not 1 <= width <= 4:
        raise ValueError("unsupported DER length")
    return pos + 2 + width, int.from_bytes(der[pos + 2 : pos + 2 + width], "big")
