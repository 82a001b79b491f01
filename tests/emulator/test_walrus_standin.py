"""The Walrus stand-in speaks the daemon's HTTP API: shapes, statuses, limits, epochs, persistence, faults.

Every test talks HTTP to uvicorn on 127.0.0.1. Expected bodies follow the research note on the Walrus daemon
(`routes.rs`, `daemon.rs`), not the stand-in's own code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from emulator.walrus import Faults, Hostile, RunningWalrus, WalrusStandIn, serve_walrus
from emulator.walrus.ids import decode_blob_id, parse_object_id, standin_blob_id

pytestmark = pytest.mark.anyio

CAP = 64 * 1024
NOT_FOUND_BODY = {
    "error": {
        "code": 404,
        "status": "NOT_FOUND",
        "message": "the requested blob ID does not exist on Walrus, ensure that it was entered correctly",
        "details": [
            {
                "@type": "ErrorInfo",
                "reason": "BLOB_NOT_FOUND",
                "domain": "daemon.walrus.space",
                "metadata": {},
            }
        ],
    }
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def walrus() -> AsyncIterator[RunningWalrus]:
    """One in-memory stand-in for the module; tests store distinct bytes and reset faults."""
    async with serve_walrus(max_body_bytes=CAP, seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(request: pytest.FixtureRequest) -> None:
    if "walrus" in request.fixturenames:
        request.getfixturevalue("walrus").standin.clear_faults()


@pytest.fixture
async def http(walrus: RunningWalrus) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=walrus.url) as client:
        yield client


def unique(label: str, size: int = 100) -> bytes:
    seed = (label + os.urandom(8).hex()).encode()
    out = bytearray()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def files(directory: Path) -> list[str]:
    """Everything under `directory` (temporary files included), relative and sorted."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


async def put(http: httpx.AsyncClient, data: bytes, query: str = "") -> httpx.Response:
    return await http.put(f"/v1/blobs{query}", content=data)


def aip(response: httpx.Response) -> tuple[int, str, str]:
    """(code, status, reason) of an AIP-193 body, checking its fixed parts."""
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "status", "message", "details"}
    (detail,) = error["details"]
    assert detail["@type"] == "ErrorInfo" and detail["domain"] == "daemon.walrus.space"
    assert detail["metadata"] == {}
    assert error["code"] == response.status_code
    return error["code"], error["status"], detail["reason"]


# --- ids ------------------------------------------------------------------------------------------------------


def test_blob_id_is_the_documented_stand_in_derivation() -> None:
    data = b"hello walrus"
    expected = hashlib.blake2b(
        b"\x01" + len(data).to_bytes(8, "little") + hashlib.sha256(data).digest(), digest_size=32
    ).digest()
    blob_id = standin_blob_id(data)
    assert len(blob_id) == 43 and "=" not in blob_id
    assert base64.urlsafe_b64decode(blob_id + "=") == expected
    assert decode_blob_id(blob_id) == expected
    # Strict like the daemon: wrong length, padding, a foreign alphabet and stray low bits are refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray_bits = blob_id[:-1] + alphabet[alphabet.index(blob_id[-1]) ^ 1]
    for bad in (blob_id[:-1], blob_id + "=", blob_id[:-1] + "+", stray_bits):
        assert decode_blob_id(bad) is None, bad
    assert parse_object_id("0x6") == "0x" + "0" * 63 + "6"
    assert parse_object_id("0xzz") is None


# --- publisher ------------------------------------------------------------------------------------------------


async def test_newly_created_shape(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    data = unique("shape", 17)
    epoch = walrus.standin.epoch
    response = await put(http, data)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["newlyCreated"]
    created = body["newlyCreated"]
    assert list(created) == ["blobObject", "resourceOperation", "cost"]
    blob = created["blobObject"]
    assert list(blob) == [
        "id",
        "registeredEpoch",
        "blobId",
        "size",
        "encodingType",
        "certifiedEpoch",
        "storage",
        "deletable",
    ]
    assert blob["blobId"] == standin_blob_id(data)
    assert parse_object_id(blob["id"]) == blob["id"]
    assert blob["size"] == 17 and blob["encodingType"] == "RS2"
    assert blob["registeredEpoch"] == blob["certifiedEpoch"] == epoch
    assert blob["deletable"] is True  # the default since Walrus 1.33
    storage = blob["storage"]
    assert list(storage) == ["id", "startEpoch", "endEpoch", "storageSize"]
    assert storage["startEpoch"] == epoch and storage["endEpoch"] == epoch + 1  # default 1 epoch
    assert storage["storageSize"] > 60 * 1024 * 1024  # encoded size dwarfs a small blob
    assert created["resourceOperation"] == {
        "registerFromScratch": {"encodedLength": storage["storageSize"], "epochsAhead": 1}
    }
    assert created["cost"] == 132_300  # the docs' 17-byte example: 63 MiB x 1 epoch x 2,100 FROST


async def test_epochs_permanent_and_share(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    epoch = walrus.standin.epoch
    body = (await put(http, unique("perm"), "?epochs=5&permanent=true")).json()
    blob = body["newlyCreated"]["blobObject"]
    assert blob["deletable"] is False and blob["storage"]["endEpoch"] == epoch + 5
    assert body["newlyCreated"]["cost"] == 5 * 132_300
    shared = (await put(http, unique("share"), "?share=true")).json()["newlyCreated"]
    assert parse_object_id(shared["sharedBlobObject"]) == shared["sharedBlobObject"]
    address = "0x" + "ab" * 32
    sent = await put(http, unique("send"), f"?send_object_to={address}&encoding_type=RS2")
    assert sent.status_code == 200 and "newlyCreated" in sent.json()


async def test_already_certified_and_force(http: httpx.AsyncClient) -> None:
    data = unique("again")
    first = (await put(http, data, "?epochs=3")).json()["newlyCreated"]["blobObject"]
    # A deletable blob the publisher owns proves itself by its object id.
    again = (await put(http, data, "?epochs=2")).json()
    assert again == {
        "alreadyCertified": {
            "blobId": first["blobId"],
            "object": first["id"],
            "endEpoch": first["storage"]["endEpoch"],
        }
    }
    # Asking for longer than it lasts buys a new object; so does force.
    longer = (await put(http, data, "?epochs=4")).json()["newlyCreated"]["blobObject"]
    assert longer["blobId"] == first["blobId"] and longer["id"] != first["id"]
    forced = (await put(http, data, "?epochs=1&force=true")).json()["newlyCreated"]
    assert forced["blobObject"]["id"] not in (first["id"], longer["id"])


async def test_already_certified_permanent_answers_with_the_event(http: httpx.AsyncClient) -> None:
    data = unique("event")
    first = (await put(http, data, "?epochs=2&permanent=true")).json()["newlyCreated"]
    again = (await put(http, data)).json()["alreadyCertified"]
    assert list(again) == ["blobId", "event", "endEpoch"]
    assert again["endEpoch"] == first["blobObject"]["storage"]["endEpoch"]
    event = again["event"]
    assert set(event) == {"txDigest", "eventSeq"} and event["eventSeq"] == "0"
    assert 43 <= len(event["txDigest"]) <= 44  # base58 of 32 bytes
    # A deletable object sent elsewhere proves nothing to the publisher: its owner may delete it.
    other = unique("sent-away")
    await put(http, other, "?send_object_to=0x" + "cd" * 32)
    assert "newlyCreated" in (await put(http, other)).json()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?foo=1", "unknown field `foo`"),
        ("?epochs=2&epochs=3", "duplicate field `epochs`"),
        ("?epochs=abc", "invalid digit found in string"),
        ("?epochs=", "cannot parse integer from empty string"),
        ("?epochs=99999999999", "number too large to fit in target type"),
        ("?force=yes", "provided string was not `true` or `false`"),
        ("?encoding_type=RS1", "unknown variant `RS1`, expected `RS2`"),
        ("?send_object_to=0x" + "11" * 32 + "&share=true", "unknown field `share`"),
        ("?share=true&send_object_to=0x" + "11" * 32, "unknown field `send_object_to`"),
    ],
)
async def test_query_rejections_are_plain_text(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await put(http, unique("query"), query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Failed to deserialize query string: " + message


@pytest.mark.parametrize("epochs", [0, 54])
async def test_epochs_out_of_range(http: httpx.AsyncClient, epochs: int) -> None:
    response = await put(http, unique("epochs"), f"?epochs={epochs}")
    assert aip(response) == (400, "INVALID_ARGUMENT", "MALFORMED_REQUEST")
    assert (await put(http, unique("epochs"), "?epochs=53")).status_code == 200


async def test_deletable_and_permanent(http: httpx.AsyncClient) -> None:
    response = await put(http, unique("persist"), "?deletable=true&permanent=true")
    assert aip(response) == (400, "INVALID_ARGUMENT", "INVALID_BLOB_PERSISTENCE")


async def test_body_cap_413(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    objects = walrus.standin.ledger.object_count()
    at_cap = await put(http, unique("cap", CAP))
    assert at_cap.status_code == 200
    over = await put(http, unique("cap", CAP + 1))
    assert over.status_code == 413
    assert over.headers["content-type"].startswith("text/plain")
    assert over.text == "Failed to buffer the request body: length limit exceeded"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for _ in range(CAP // 1000 + 1):
            yield b"z" * 1000

    streamed = await http.put("/v1/blobs", content=chunked())
    assert streamed.status_code == 413
    assert walrus.standin.ledger.object_count() == objects + 1


# --- aggregator -----------------------------------------------------------------------------------------------


async def test_read_headers_head_and_content_type(http: httpx.AsyncClient) -> None:
    data = unique("read", 1000)
    blob_id = (await put(http, data)).json()["newlyCreated"]["blobObject"]["blobId"]
    response = await http.get(f"/v1/blobs/{blob_id}")
    assert response.status_code == 200 and response.content == data
    headers = response.headers
    assert headers["etag"] == blob_id
    assert headers["cache-control"] == "public, max-age=86400, stale-while-revalidate=3600"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-length"] == "1000"
    assert headers["content-type"] == "application/octet-stream"
    head = await http.head(f"/v1/blobs/{blob_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "1000" and head.headers["etag"] == blob_id
    # The daemon mirrors an Accept without '*', else (on GET) the request's Content-Type.
    mirrored = await http.get(f"/v1/blobs/{blob_id}", headers={"Accept": "image/png"})
    assert mirrored.headers["content-type"] == "image/png"
    mirrored = await http.get(
        f"/v1/blobs/{blob_id}", headers={"Accept": "*/*", "Content-Type": "text/x-daas"}
    )
    assert mirrored.headers["content-type"] == "text/x-daas"


async def test_range_requests(http: httpx.AsyncClient) -> None:
    data = unique("range", 100)
    blob_id = (await put(http, data)).json()["newlyCreated"]["blobObject"]["blobId"]
    response = await http.get(f"/v1/blobs/{blob_id}", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206 and response.content == data[10:20]
    assert response.headers["content-range"] == "bytes 10-19/100"
    assert response.headers["content-length"] == "10" and response.headers["etag"] == blob_id
    for bad in (
        "bytes=10-",
        "bytes=-5",
        "bytes=20-10",
        "bytes=0-100",
        "bytes=0-1,3-4",
        "lines=1-2",
    ):
        refused = await http.get(f"/v1/blobs/{blob_id}", headers={"Range": bad})
        assert aip(refused) == (416, "RANGE_NOT_SATISFIABLE", "INVALID_BYTE_RANGE"), bad
        assert refused.json()["error"]["message"].startswith("invalid byte range parameters: ")


async def test_unknown_and_malformed_ids(http: httpx.AsyncClient) -> None:
    unknown = standin_blob_id(unique("never stored"))
    for method in ("GET", "HEAD"):
        response = await http.request(method, f"/v1/blobs/{unknown}")
        assert response.status_code == 404
    response = await http.get(f"/v1/blobs/{unknown}")
    assert response.json() == NOT_FOUND_BODY
    aip(response)
    for bad in ("short", unknown + "A", unknown[:-1] + "="):
        malformed = await http.get(f"/v1/blobs/{bad}")
        assert malformed.status_code == 400, bad
        assert malformed.headers["content-type"].startswith("text/plain")
    query = await http.get(f"/v1/blobs/{unknown}?foo=1")
    assert query.status_code == 400
    assert query.text == (
        "Failed to deserialize query string: unknown field `foo`, "
        "expected `strict_consistency_check` or `skip_consistency_check`"
    )


async def test_by_object_id(http: httpx.AsyncClient) -> None:
    data = unique("object", 300)
    created = (await put(http, data, "?share=true")).json()["newlyCreated"]
    blob = created["blobObject"]
    for object_id in (
        blob["id"],
        created["sharedBlobObject"],
        blob["id"].upper().replace("0X", "0x"),
    ):
        response = await http.get(f"/v1/blobs/by-object-id/{object_id}")
        assert response.status_code == 200 and response.content == data
        assert response.headers["etag"] == blob["blobId"]
    head = await http.head(f"/v1/blobs/by-object-id/{blob['id']}")
    assert head.status_code == 200 and head.headers["content-length"] == "300"
    missing = await http.get("/v1/blobs/by-object-id/0x" + "0" * 63 + "1")
    assert missing.status_code == 404 and missing.json() == NOT_FOUND_BODY
    assert (await http.get("/v1/blobs/by-object-id/0xnothex")).status_code == 400


async def test_status_and_api(http: httpx.AsyncClient) -> None:
    status = await http.get("/status")
    assert status.status_code == 200 and status.text == "OK"
    api = (await http.get("/v1/api")).json()
    assert api["openapi"].startswith("3.") and "/v1/blobs" in api["paths"]


# --- epochs and persistence -----------------------------------------------------------------------------------


async def test_expiry_by_virtual_epoch() -> None:
    async with (
        serve_walrus(start_epoch=10) as walrus,
        httpx.AsyncClient(base_url=walrus.url) as http,
    ):
        data = unique("expiry")
        created = (await put(http, data, "?epochs=2")).json()["newlyCreated"]["blobObject"]
        url = f"/v1/blobs/{created['blobId']}"
        assert created["storage"]["endEpoch"] == 12
        assert walrus.standin.advance_epoch() == 11
        assert (await http.get(url)).content == data
        assert (await put(http, data)).json()["alreadyCertified"]["endEpoch"] == 12
        # The admin route advances the same clock.
        advanced = await http.post("/_emulator/epoch", json={"advance": 1})
        assert advanced.json() == {"epoch": 12}
        expired = await http.get(url)
        assert expired.status_code == 404 and expired.json() == NOT_FOUND_BODY
        by_object = await http.get(f"/v1/blobs/by-object-id/{created['id']}")
        assert by_object.status_code == 404
        # Storing again after expiry registers a new object.
        renewed = (await put(http, data)).json()["newlyCreated"]["blobObject"]
        assert renewed["storage"] == renewed["storage"] | {"startEpoch": 12, "endEpoch": 13}
        assert (await http.get(url)).content == data


async def test_epoch_timer() -> None:
    standin = WalrusStandIn(epoch_duration_s=0.02)
    first = standin.epoch
    await anyio.sleep(0.05)
    assert standin.epoch >= first + 2


async def test_disk_storage_survives_restart(tmp_path: Path) -> None:
    data = unique("disk", 5000)
    async with serve_walrus(storage_dir=tmp_path) as walrus, httpx.AsyncClient() as http:
        created = (await http.put(f"{walrus.url}/v1/blobs?epochs=3", content=data)).json()
        blob = created["newlyCreated"]["blobObject"]
        assert blob["storage"]["endEpoch"] == 4
        walrus.standin.advance_epoch(2)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["epoch"] == 3 and len(index["objects"]) == 1
    # Content and index only: temporary files never survive a write.
    assert files(tmp_path) == ["blobs", f"blobs/{blob['blobId']}.blob", "index.json"]

    async with serve_walrus(storage_dir=tmp_path) as walrus, httpx.AsyncClient() as http:
        assert walrus.standin.epoch == 3  # a restart does not turn the clock back
        response = await http.get(f"{walrus.url}/v1/blobs/{blob['blobId']}")
        assert response.content == data
        again = (await http.put(f"{walrus.url}/v1/blobs?epochs=1", content=data)).json()
        assert again["alreadyCertified"]["object"] == blob["id"]
        # Object ids come from a persisted counter: a restarted stand-in never reuses one.
        forced = (await http.put(f"{walrus.url}/v1/blobs?force=true", content=data)).json()
        assert forced["newlyCreated"]["blobObject"]["id"] != blob["id"]
        walrus.standin.advance_epoch(5)  # saved at once

    async with serve_walrus(storage_dir=tmp_path) as walrus, httpx.AsyncClient() as http:
        assert walrus.standin.epoch == 8
        gone = await http.get(f"{walrus.url}/v1/blobs/{blob['blobId']}")
        assert gone.status_code == 404 and gone.json() == NOT_FOUND_BODY


# --- faults ---------------------------------------------------------------------------------------------------


async def test_fault_statuses_and_bodies(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    data = unique("faults")
    blob_id = (await put(http, data)).json()["newlyCreated"]["blobObject"]["blobId"]
    standin = walrus.standin

    standin.set_faults(rate_429=1.0)
    for response in (await put(http, data), await http.get(f"/v1/blobs/{blob_id}")):
        assert response.status_code == 429
        assert response.headers["content-type"].startswith("text/plain")
        assert "retry-after" not in response.headers
    assert (await put(http, data)).text == (
        "the publisher is receiving too many requests; please try again later"
    )
    assert (await http.get(f"/v1/blobs/{blob_id}")).text == (
        "the aggregator is receiving too many requests; please try again later"
    )

    standin.set_faults(Faults(rate_503=1.0, retry_after_s=2))
    unavailable = await http.get(f"/v1/blobs/{blob_id}")
    assert aip(unavailable) == (503, "UNAVAILABLE", "BLOB_UNAVAILABLE")
    assert unavailable.headers["retry-after"] == "2"
    assert (await put(http, unique("503 spares stores"))).status_code == 200

    standin.set_faults(Faults(rate_504=1.0))
    fresh = unique("504")
    timed_out = await put(http, fresh)
    assert aip(timed_out) == (504, "DEADLINE_EXCEEDED", "INSUFFICIENT_CONFIRMATIONS")
    assert standin.blob_content(standin_blob_id(fresh)) is None  # a plain 504 stored nothing

    standin.set_faults(Faults(rate_store_lost=1.0))
    lost = unique("lost")
    assert (await put(http, lost)).status_code == 504
    standin.clear_faults()
    assert "alreadyCertified" in (await put(http, lost)).json()  # it was certified all along


async def test_faults_are_reproducible_from_the_seed() -> None:
    async def sequence() -> list[int]:
        standin = WalrusStandIn(seed=99, faults=Faults(rate_429=0.3, rate_503=0.3))
        async with serve_walrus(standin=standin) as walrus, httpx.AsyncClient() as http:
            url = f"{walrus.url}/v1/blobs/{standin_blob_id(b'x')}"
            return [(await http.get(url)).status_code for _ in range(40)]

    first = await sequence()
    assert first == await sequence()
    assert {429, 503, 404} <= set(first)


async def test_admin_routes_change_faults(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    changed = await http.post("/_emulator/faults?seed=3", json={"rate_429": 1.0, "latency_s": 0.01})
    assert changed.status_code == 200 and changed.json()["rate_429"] == 1.0
    assert walrus.standin.faults.latency_s == 0.01
    assert (await http.get("/v1/blobs/" + standin_blob_id(b"y"))).status_code == 429
    assert (await http.post("/_emulator/faults", json={"rate_429": 2})).status_code == 400
    assert (await http.post("/_emulator/faults", json={"nope": 1})).status_code == 400
    assert (await http.post("/_emulator/faults", json={"hostile": "evil"})).status_code == 400
    reset = await http.post("/_emulator/faults", json=Faults().to_json())
    assert reset.json() == Faults().to_json()
    state = (await http.get("/_emulator/state")).json()
    assert state["maxBodyBytes"] == CAP and state["faults"] == Faults().to_json()


async def test_latency(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    walrus.standin.set_faults(latency_s=0.1)
    start = anyio.current_time()
    assert (await http.get("/v1/blobs/" + standin_blob_id(b"slow"))).status_code == 404
    assert anyio.current_time() - start >= 0.1


# --- hostile answers ------------------------------------------------------------------------------------------


async def stored(http: httpx.AsyncClient, label: str, size: int = 10_000) -> tuple[bytes, str]:
    data = unique(label, size)
    return data, (await put(http, data)).json()["newlyCreated"]["blobObject"]["blobId"]


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        (Hostile.TRUNCATED, lambda data, body: body == data[: len(data) // 2]),
        (Hostile.WRONG_LENGTH, lambda data, body: body == data[:-1]),
        (
            Hostile.WRONG_BYTES,
            lambda data, body: (
                len(body) == len(data) and sum(a != b for a, b in zip(body, data, strict=True)) == 1
            ),
        ),
    ],
)
async def test_hostile_bodies_with_honest_lengths(
    walrus: RunningWalrus, http: httpx.AsyncClient, mode: Hostile, check: Any
) -> None:
    data, blob_id = await stored(http, mode.value)
    walrus.standin.set_faults(hostile=mode, hostile_count=1)
    spoiled = await http.get(f"/v1/blobs/{blob_id}")
    assert spoiled.status_code == 200 and spoiled.content != data and check(data, spoiled.content)
    assert int(spoiled.headers["content-length"]) == len(spoiled.content)
    assert (await http.get(f"/v1/blobs/{blob_id}")).content == data  # the count is spent


async def test_hostile_oversized_and_cut(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    data, blob_id = await stored(http, "oversized")
    walrus.standin.set_faults(hostile=Hostile.OVERSIZED, oversize_extra_bytes=5000)
    big = await http.get(f"/v1/blobs/{blob_id}")
    assert big.headers["content-length"] == str(len(data) + 5000)
    assert big.content.startswith(data) and len(big.content) == len(data) + 5000
    walrus.standin.set_faults(hostile=Hostile.OVERSIZED_CHUNKED, oversize_extra_bytes=5000)
    chunked = await http.get(f"/v1/blobs/{blob_id}")
    assert "content-length" not in chunked.headers
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert len(chunked.content) == len(data) + 5000
    walrus.standin.set_faults(hostile=Hostile.CONNECTION_CUT)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message body"):
        await http.get(f"/v1/blobs/{blob_id}")
    # HEAD and ranges are left alone.
    assert (await http.head(f"/v1/blobs/{blob_id}")).status_code == 200


async def test_store_then_hang(walrus: RunningWalrus, http: httpx.AsyncClient) -> None:
    walrus.standin.set_faults(hostile=Hostile.STORE_THEN_HANG, hostile_count=1, hang_s=0.5)
    data = unique("hang")
    with pytest.raises(httpx.ReadTimeout):
        await http.put("/v1/blobs", content=data, timeout=0.2)
    assert walrus.standin.blob_content(standin_blob_id(data)) == data
    assert "alreadyCertified" in (await put(http, data)).json()


# --- the foreground server ------------------------------------------------------------------------------------


def test_run_serves_until_sigterm(tmp_path: Path) -> None:
    """`run` is what `daas emulator walrus` calls: it reports its URL, serves, and stops on SIGTERM."""
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; from pathlib import Path; from emulator.walrus import run; "
        "run(port=0, storage_dir=Path(sys.argv[1]), log_level='warning', "
        "on_ready=lambda running: print(running.url, flush=True))"
    )
    env = os.environ | {"PYTHONPATH": str(root)}
    with subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            assert httpx.get(f"{url}/status").text == "OK"
            stored = httpx.put(f"{url}/v1/blobs", content=b"foreground").json()
            blob_id = stored["newlyCreated"]["blobObject"]["blobId"]
            assert httpx.get(f"{url}/v1/blobs/{blob_id}").content == b"foreground"
            proc.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    assert (tmp_path / "blobs" / f"{blob_id}.blob").read_bytes() == b"foreground"
