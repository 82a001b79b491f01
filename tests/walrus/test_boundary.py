"""The Walrus client's edges without a server: error mapping, Retry-After, backoff, answers, verification."""

from __future__ import annotations

import email.utils
import hashlib
import json
import random

import httpx
import pytest

from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
    BlobTooLarge,
)
from daas.walrus import RetryPolicy, check_blob_id
from daas.walrus._boundary import Transient, error_for_status, mapped_errors, parse_retry_after
from daas.walrus.client import _parse_store_answer, _Verifier

# The examples of the Walrus docs (research note A.4), with the real blob id of a 17-byte blob.
DOCS_BLOB_ID = "M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk"
NEWLY_CREATED = {
    "newlyCreated": {
        "blobObject": {
            "id": "0xe91eee8c5b6f35b9a250cfc29e30f0d9e5463a21fd8d1ddb0fc22d44db4eac50",
            "registeredEpoch": 34,
            "blobId": DOCS_BLOB_ID,
            "size": 17,
            "encodingType": "RS2",
            "certifiedEpoch": 34,
            "storage": {
                "id": "0x4748cd83217b5ce7aa77e7f1ad6fc5f7f694e26a157381b9391ac65c47815faf",
                "startEpoch": 34,
                "endEpoch": 35,
                "storageSize": 66034000,
            },
            "deletable": False,
        },
        "resourceOperation": {"registerFromScratch": {"encodedLength": 66034000, "epochsAhead": 1}},
        "cost": 132300,
    }
}
ALREADY_CERTIFIED = {
    "alreadyCertified": {
        "blobId": DOCS_BLOB_ID,
        "event": {"txDigest": "4XQHFa9S324wTzYHF3vsBSwpUZuLpmwTHYMFv9nsttSs", "eventSeq": "0"},
        "endEpoch": 35,
    }
}


def aip(code: int, status: str, reason: str, message: str) -> bytes:
    detail = {
        "@type": "ErrorInfo",
        "reason": reason,
        "domain": "daemon.walrus.space",
        "metadata": {},
    }
    body = {"error": {"code": code, "status": status, "message": message, "details": [detail]}}
    return json.dumps(body).encode()


# --- answers --------------------------------------------------------------------------------------------------


def test_the_docs_answers_parse() -> None:
    data_sha = hashlib.sha256(b"x" * 17).digest()
    created = _parse_store_answer("store", json.dumps(NEWLY_CREATED).encode(), 17, data_sha)
    assert created.blob_id == DOCS_BLOB_ID and created.newly_created
    assert (created.end_epoch, created.cost, created.size) == (35, 132300, 17)
    assert created.object_id == NEWLY_CREATED["newlyCreated"]["blobObject"]["id"]  # type: ignore[index]
    certified = _parse_store_answer("store", json.dumps(ALREADY_CERTIFIED).encode(), 17, data_sha)
    assert not certified.newly_created and certified.object_id is None and certified.cost == 0
    owned = {"alreadyCertified": {"blobId": DOCS_BLOB_ID, "object": "0xab", "endEpoch": 40}}
    assert (
        _parse_store_answer("store", json.dumps(owned).encode(), 17, data_sha).object_id == "0xab"
    )


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"not json", BlobStoreError, "not a store result"),
        (b'{"markedInvalid": {"blobId": "x", "event": {}}}', BlobStoreError, "did not store"),
        (
            b'{"error": {"blobId": null, "failurePhase": "store", "errorMsg": "boom"}}',
            BlobStoreError,
            "not a store result|did not store",
        ),
        (
            json.dumps(NEWLY_CREATED).replace(DOCS_BLOB_ID, "short").encode(),
            BlobStoreError,
            "malformed blob id",
        ),
    ],
)
def test_unusable_answers(body: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _parse_store_answer("store", body, 17, b"\0" * 32)


def test_an_answer_for_other_bytes_is_an_integrity_error() -> None:
    with pytest.raises(BlobIntegrityError, match="stored 17 bytes, but 18 were sent"):
        _parse_store_answer("store", json.dumps(NEWLY_CREATED).encode(), 18, b"\0" * 32)


# --- status mapping -------------------------------------------------------------------------------------------


def test_error_bodies_become_typed_errors() -> None:
    not_found = error_for_status(
        "read X", 404, {}, aip(404, "NOT_FOUND", "BLOB_NOT_FOUND", "the requested blob ID ...")
    )
    assert type(not_found) is BlobNotFound
    assert str(not_found) == "read X: HTTP 404 NOT_FOUND/BLOB_NOT_FOUND: the requested blob ID ..."
    wrong_url = error_for_status("store", 404, {}, b"Not Found", store=True)
    assert type(wrong_url) is BlobStoreError and "walrus.publisher_url" in str(wrong_url)
    too_big = error_for_status(
        "store", 413, {}, b"Failed to buffer the request body: length limit exceeded"
    )
    assert type(too_big) is BlobTooLarge and "length limit exceeded" in str(too_big)
    capped = error_for_status("read X", 403, {}, aip(403, "SIZE_EXCEEDED", "BLOB_TOO_LARGE", "big"))
    assert type(capped) is BlobTooLarge
    for status in (400, 416, 451, 500):
        other = error_for_status("read X", status, {}, b"")
        assert type(other) is BlobStoreError and f"HTTP {status} (empty body)" in str(other)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    err = error_for_status("read X", status, {"retry-after": "7"}, b"busy")
    assert isinstance(err, Transient) and isinstance(err, BlobStoreUnavailable)
    assert err.retry_after_s == 7.0 and str(err) == f"read X: HTTP {status} busy"


def test_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


# --- httpx exceptions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected", "match"),
    [
        (httpx.ConnectError("refused"), Transient, "ConnectError: refused"),
        (httpx.ReadTimeout(""), Transient, r"timed out \(ReadTimeout\)"),
        (httpx.PoolTimeout("pool"), Transient, "timed out"),
        (httpx.RemoteProtocolError("peer closed"), Transient, "peer closed"),
        (httpx.ReadError("reset"), Transient, "reset"),
        (httpx.DecodingError("bad gzip"), BlobIntegrityError, "does not decode"),
        (httpx.LocalProtocolError("bad header"), BlobStoreError, "bad header"),
        (httpx.UnsupportedProtocol("gopher"), BlobStoreError, "gopher"),
        (httpx.InvalidURL("bad"), BlobStoreError, "bad"),
        (httpx.StreamConsumed(), BlobStoreError, "StreamConsumed"),
    ],
)
def test_httpx_exceptions_are_mapped_once(
    raised: Exception, expected: type[Exception], match: str
) -> None:
    with pytest.raises(expected, match=match) as caught, mapped_errors("read X"):
        raise raised
    assert caught.value.__cause__ is raised
    if expected is not Transient:
        assert not isinstance(caught.value, BlobStoreUnavailable)


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(BlobIntegrityError, match="mine"), mapped_errors("read X"):
        raise BlobIntegrityError("mine")


# --- backoff --------------------------------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    policy = RetryPolicy(retries=10, base_delay_s=0.5, max_delay_s=4.0, max_retry_after_s=10.0)
    rng = random.Random(1)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (9, 4.0), (500, 4.0)]:
        delays = [policy.delay(retry, None, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(0, 3600.0, rng) == 10.0  # a Retry-After is capped
    assert policy.attempts == 11
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)


# --- verification and ids -------------------------------------------------------------------------------------


def test_verifier_limits() -> None:
    data = b"0123456789"
    short = _Verifier("read X", hashlib.sha256(data).digest(), 10, None)
    short.update(data[:5])
    with pytest.raises(BlobIntegrityError, match="sent 5 bytes, expected 10"):
        short.finish()
    exact = _Verifier("read X", hashlib.sha256(data).digest(), 10, 10)
    exact.update(data)
    assert exact.finish().size == 10
    # A compressed body's length says nothing about the blob's.
    assert (
        exact.check_declared(httpx.Headers({"content-length": "3", "content-encoding": "gzip"}))
        is None
    )
    with pytest.raises(BlobIntegrityError, match="announces 3 bytes"):
        exact.check_declared(httpx.Headers({"content-length": "3"}))
    with pytest.raises(ValueError, match="32-byte"):
        _Verifier("read X", b"short", None, None)


def test_blob_id_check() -> None:
    assert check_blob_id(DOCS_BLOB_ID) == DOCS_BLOB_ID
    for bad in ("", DOCS_BLOB_ID[:-1], DOCS_BLOB_ID + "=", DOCS_BLOB_ID[:-1] + "/", "../" * 15):
        with pytest.raises(BlobNotFound, match="not a Walrus blob id"):
            check_blob_id(bad)
