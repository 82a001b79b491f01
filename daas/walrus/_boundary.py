"""The one place where httpx exceptions and Walrus HTTP errors become DaaS errors.

`mapped_errors` wraps every httpx call of the client; `error_for_status` turns a non-success answer into the
matching error, reading the daemon's AIP-193 JSON bodies and its plain-text 413/429 bodies. `Transient` marks the
faults worth retrying (and carries `Retry-After`); it is a `BlobStoreUnavailable`, and it never leaves the client:
the retry loop raises a plain `BlobStoreUnavailable` when it gives up.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Iterator, Mapping

import httpx

from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
    BlobTooLarge,
)

# 502 is not a daemon status, but the gateways and CDNs in front of public services answer it for a passing fault.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
MAX_ERROR_BODY = (
    16 * 1024
)  # bytes of an error body worth reading (a hostile server may send endless ones)


class Transient(BlobStoreUnavailable):
    """A fault worth retrying; `retry_after_s` is the server's `Retry-After`, if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def mapped_errors(action: str) -> Iterator[None]:
    """Translate httpx exceptions raised inside the block; `action` says what was being done (`read <id>`)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Transient(f"{action}: timed out ({_describe(exc)})") from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        # Connection refused or reset, or a body cut short: the next attempt may well succeed.
        raise Transient(f"{action}: {_describe(exc)}") from exc
    except httpx.DecodingError as exc:
        raise BlobIntegrityError(f"{action}: the body does not decode ({_describe(exc)})") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise BlobStoreError(f"{action}: {_describe(exc)}") from exc


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds (fractions tolerated) or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _body_detail(body: bytes) -> tuple[str, str | None]:
    """(human message, AIP-193 reason or None) from an error body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        error = json.loads(text)["error"]
        message = str(error.get("message", "")).strip()
        status = error.get("status")
        reasons = [d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)]
        reason = next((str(r) for r in reasons if r), None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return (text[:300] or "(empty body)"), None
    label = "/".join(str(part) for part in (status, reason) if part)
    return (f"{label}: {message}" if label else message or text[:300]), reason


def error_for_status(
    action: str, status: int, headers: Mapping[str, str], body: bytes, *, store: bool = False
) -> BlobStoreError:
    """The error for a non-success answer (the caller raises it); `store` for the publisher's answers."""
    detail, reason = _body_detail(body)
    where = f"{action}: HTTP {status} {detail}"
    if status in TRANSIENT_STATUSES:
        return Transient(where, retry_after_s=parse_retry_after(headers.get("retry-after")))
    if status == 404:
        if store:  # no blob is looked up by a store: the URL is wrong
            return BlobStoreError(f"{where} (is walrus.publisher_url a Walrus publisher?)")
        return BlobNotFound(where)
    if status == 413 or (status == 403 and reason == "BLOB_TOO_LARGE"):
        return BlobTooLarge(where)
    return BlobStoreError(where)
