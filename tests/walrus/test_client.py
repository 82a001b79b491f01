"""`WalrusClient` against the Walrus stand-in served by uvicorn on 127.0.0.1: exact bytes or a typed error."""

from __future__ import annotations

import hashlib
import os
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from daas.config import load_settings
from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
    BlobTooLarge,
    ConfigError,
)
from daas.walrus import BlobStore, RetryPolicy, WalrusClient
from emulator.walrus import Faults, Hostile, RunningWalrus, serve_walrus, standin_blob_id

pytestmark = pytest.mark.anyio

CAP = 1024 * 1024
FAST = RetryPolicy(retries=4, base_delay_s=0.001, max_delay_s=0.005)
BLOB_GETS = "GET /v1/blobs/{blob_id}"
PUTS = "PUT /v1/blobs"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def walrus() -> AsyncIterator[RunningWalrus]:
    async with serve_walrus(max_body_bytes=CAP, seed=11) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(walrus: RunningWalrus) -> None:
    walrus.standin.clear_faults()


def make_client(walrus: RunningWalrus, **options: object) -> WalrusClient:
    settings: dict[str, object] = {
        "aggregator_url": walrus.url,
        "publisher_url": walrus.url,
        "max_request_bytes": CAP,
        "retry": FAST,
        "timeout_s": 5.0,
        "rng": random.Random(0),
    }
    settings.update(options)
    return WalrusClient(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def client(walrus: RunningWalrus) -> AsyncIterator[WalrusClient]:
    async with make_client(walrus) as walrus_client:
        yield walrus_client


def blob(size: int) -> bytes:
    return os.urandom(size)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- the happy paths ------------------------------------------------------------------------------------------


async def test_round_trip_with_progress(
    walrus: RunningWalrus, client: WalrusClient, tmp_path: Path
) -> None:
    data = blob(300_000)
    progress: list[tuple[int, int | None]] = []
    blobs: BlobStore = client  # services see only the Protocol
    stored = await blobs.store(data, on_progress=lambda done, total: progress.append((done, total)))
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert stored.blob_id == standin_blob_id(data)
    assert stored.size == len(data) and stored.sha256 == sha(data)
    assert stored.newly_created and stored.cost > 0 and stored.object_id is not None
    assert stored.end_epoch == walrus.standin.epoch + 5  # the default of walrus.epochs

    progress.clear()
    read = await client.read(
        stored.blob_id,
        expected_sha256=stored.sha256,
        expected_size=stored.size,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert read == data
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data))
    assert await client.read(stored.blob_id) == data  # nothing expected: still the bytes

    dest = tmp_path / "blob.bin"
    digest = await client.read_to(stored.blob_id, dest, expected_sha256=stored.sha256)
    assert dest.read_bytes() == data and digest.sha256 == stored.sha256 and digest.size == len(data)
    assert names(tmp_path) == ["blob.bin"]

    chunks = []
    async with client.open_stream(stored.blob_id, expected_size=len(data)) as stream:
        async for chunk in stream:
            chunks.append(chunk)
    assert b"".join(chunks) == data and len(chunks) > 1

    assert await client.exists(stored.blob_id)
    assert not await client.exists(standin_blob_id(b"never stored"))
    assert not await client.exists("not-a-blob-id")


async def test_storing_again_is_already_certified(client: WalrusClient) -> None:
    data = blob(1000)
    first = await client.store(data, epochs=3)
    again = await client.store(data, epochs=2)
    assert not again.newly_created and again.cost == 0
    assert (again.blob_id, again.object_id, again.end_epoch) == (
        first.blob_id,
        first.object_id,
        first.end_epoch,
    )
    longer = await client.store(data, epochs=4)
    assert longer.newly_created and longer.end_epoch == first.end_epoch + 1


async def test_permanent_blobs(walrus: RunningWalrus) -> None:
    async with make_client(walrus, permanent=True, epochs=2) as client:
        data = blob(500)
        first = await client.store(data)
        assert first.newly_created and first.end_epoch == walrus.standin.epoch + 2
        again = await client.store(data)
        # Proven by a certification event, not an object the publisher owns.
        assert not again.newly_created and again.object_id is None
        assert again.end_epoch == first.end_epoch


async def test_empty_blob(client: WalrusClient) -> None:
    stored = await client.store(b"")
    assert await client.read(stored.blob_id, expected_sha256=sha(b""), expected_size=0) == b""


async def test_expired_blob_is_not_found(walrus: RunningWalrus, client: WalrusClient) -> None:
    stored = await client.store(blob(100), epochs=1)
    walrus.standin.advance_epoch()
    assert not await client.exists(stored.blob_id)
    with pytest.raises(BlobNotFound, match="BLOB_NOT_FOUND"):
        await client.read(stored.blob_id)


# --- the workload ---------------------------------------------------------------------------------------------


async def test_100_round_trips_through_30_percent_faults() -> None:
    """Each read and store meets a 30% fault rate (429/503 on reads; 429/504/lost answers on stores)."""
    faults = Faults(rate_429=0.1, rate_503=0.2, rate_504=0.1, rate_store_lost=0.1)
    rng = random.Random(7)
    sizes = [0, 1, CAP, CAP - 1] + [rng.randrange(0, 256 * 1024) for _ in range(96)]
    payloads = [rng.randbytes(size) for size in sizes]
    results: dict[int, bytes] = {}
    patient = RetryPolicy(retries=12, base_delay_s=0.001, max_delay_s=0.004)

    async with (
        serve_walrus(max_body_bytes=CAP, seed=2024, faults=faults) as walrus,
        make_client(walrus, retry=patient) as client,
    ):
        limiter = anyio.Semaphore(8)

        async def round_trip(index: int) -> None:
            async with limiter:
                stored = await client.store(payloads[index], epochs=2)
                results[index] = await client.read(
                    stored.blob_id, expected_sha256=stored.sha256, expected_size=stored.size
                )

        async with anyio.create_task_group() as tg:
            for index in range(len(payloads)):
                tg.start_soon(round_trip, index)

    assert all(results[i] == payloads[i] for i in range(len(payloads)))
    stats = walrus.standin.stats
    injected = stats.faults
    assert all(injected[kind] > 0 for kind in ("429", "503", "504", "store_lost")), injected
    assert 0.18 < injected.total() / stats.requests.total() < 0.42, stats
    # Each payload paid for once: after a lost answer the retry found the blob already certified.
    assert stats.newly_created == len(payloads)
    assert stats.already_certified == injected["store_lost"]


# --- hostile aggregators --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected", "match"),
    [
        (Hostile.WRONG_BYTES, {"sha": True, "size": True}, "sha256 .* differs"),
        (Hostile.WRONG_BYTES, {"sha": True}, "sha256 .* differs"),
        (Hostile.WRONG_LENGTH, {"size": True}, "announces 99999 bytes, expected 100000"),
        (Hostile.WRONG_LENGTH, {"sha": True}, "sha256 .* differs"),
        (Hostile.TRUNCATED, {"size": True}, "announces 50000 bytes"),
        (Hostile.OVERSIZED, {"size": True}, "announces .* bytes, expected 100000"),
        (Hostile.OVERSIZED_CHUNKED, {"size": True}, "more than the expected 100000 bytes"),
    ],
)
async def test_hostile_reads_give_integrity_errors(
    walrus: RunningWalrus,
    client: WalrusClient,
    tmp_path: Path,
    mode: Hostile,
    expected: dict[str, bool],
    match: str,
) -> None:
    data = blob(100_000)
    stored = await client.store(data)
    standin = walrus.standin
    standin.set_faults(hostile=mode)
    options = {
        "expected_sha256": stored.sha256 if expected.get("sha") else None,
        "expected_size": stored.size if expected.get("size") else None,
    }
    gets = standin.stats.requests[BLOB_GETS]
    sent = standin.stats.hostile_bytes_sent
    with pytest.raises(BlobIntegrityError, match=match):
        await client.read(stored.blob_id, **options)  # type: ignore[arg-type]
    assert standin.stats.requests[BLOB_GETS] == gets + 1  # integrity failures are not retried
    if mode in (Hostile.OVERSIZED, Hostile.OVERSIZED_CHUNKED):
        # Abandoned early: nowhere near the 64 MiB of junk on offer was pulled through.
        assert standin.stats.hostile_bytes_sent - sent < 16 * 1024 * 1024

    dest = tmp_path / "out.bin"
    with pytest.raises(BlobIntegrityError):
        await client.read_to(stored.blob_id, dest, **options)  # type: ignore[arg-type]
    assert names(tmp_path) == []  # no partial file, under any name


async def test_oversized_stream_hits_max_bytes(walrus: RunningWalrus, client: WalrusClient) -> None:
    stored = await client.store(blob(10_000))
    walrus.standin.set_faults(hostile=Hostile.OVERSIZED_CHUNKED)
    with pytest.raises(BlobTooLarge, match="exceeds the limit of 200000 bytes"):
        await client.read(stored.blob_id, max_bytes=200_000)
    walrus.standin.set_faults(hostile=Hostile.OVERSIZED)
    with pytest.raises(BlobTooLarge, match=r"announces .* more than the limit"):
        await client.read(stored.blob_id, max_bytes=200_000)
    walrus.standin.clear_faults()
    with pytest.raises(BlobTooLarge, match="announces 10000 bytes"):
        await client.read(stored.blob_id, max_bytes=9_999)
    assert len(await client.read(stored.blob_id, max_bytes=10_000)) == 10_000


async def test_connection_cut_mid_body(walrus: RunningWalrus, client: WalrusClient) -> None:
    data = blob(100_000)
    stored = await client.store(data)
    walrus.standin.set_faults(hostile=Hostile.CONNECTION_CUT, hostile_count=2)
    # Cut twice, then served whole: retried from the start, exact bytes.
    assert await client.read(stored.blob_id, expected_sha256=stored.sha256) == data
    walrus.standin.set_faults(hostile_count=None)  # every answer cut
    with pytest.raises(BlobStoreUnavailable, match=r"gave up after 5 attempt.*RemoteProtocolError"):
        await client.read(stored.blob_id)


async def test_open_stream_checks_at_the_end(walrus: RunningWalrus, client: WalrusClient) -> None:
    data = blob(200_000)
    stored = await client.store(data)
    walrus.standin.set_faults(hostile=Hostile.WRONG_BYTES)
    received = bytearray()
    with pytest.raises(BlobIntegrityError, match="sha256"):
        async with client.open_stream(stored.blob_id, expected_sha256=stored.sha256) as stream:
            async for chunk in stream:
                received += chunk
    assert len(received) == len(data)  # every chunk came, the verdict at the end
    walrus.standin.clear_faults()
    async with client.open_stream(stored.blob_id) as stream:
        async for chunk in stream:
            assert data.startswith(chunk)
            break  # leaving early closes the response
    assert await client.read(stored.blob_id) == data


# --- retries and their limits ---------------------------------------------------------------------------------


async def test_retry_budget_exhausted(walrus: RunningWalrus, client: WalrusClient) -> None:
    stored = await client.store(blob(100))
    standin = walrus.standin
    standin.set_faults(Faults(rate_503=1.0))
    gets = standin.stats.requests[BLOB_GETS]
    with pytest.raises(BlobStoreUnavailable) as caught:
        await client.read(stored.blob_id)
    message = str(caught.value)
    assert message.startswith("gave up after 5 attempt(s); last error: read ")
    assert "HTTP 503 UNAVAILABLE/BLOB_UNAVAILABLE" in message
    assert standin.stats.requests[BLOB_GETS] == gets + 5
    assert type(caught.value) is BlobStoreUnavailable  # the internal marker class stays inside

    standin.set_faults(Faults(rate_504=1.0))
    with pytest.raises(BlobStoreUnavailable, match="INSUFFICIENT_CONFIRMATIONS"):
        await client.store(blob(100))
    standin.set_faults(Faults(rate_429=1.0))
    with pytest.raises(BlobStoreUnavailable, match="HTTP 429 the publisher is receiving too many"):
        await client.store(blob(100))
    with pytest.raises(BlobStoreUnavailable, match="gave up"):
        await client.exists(stored.blob_id)


async def test_retry_after_is_honoured(walrus: RunningWalrus) -> None:
    walrus.standin.set_faults(rate_429=1.0, retry_after_s=0.2)
    async with make_client(walrus, retry=RetryPolicy(retries=1, base_delay_s=0.001)) as client:
        start = anyio.current_time()
        with pytest.raises(BlobStoreUnavailable):
            await client.read(standin_blob_id(b"busy"))
        assert anyio.current_time() - start >= 0.2


async def test_store_timeout_then_retry_finds_the_blob_certified(walrus: RunningWalrus) -> None:
    standin = walrus.standin
    standin.set_faults(hostile=Hostile.STORE_THEN_HANG, hostile_count=1, hang_s=0.6)
    created = standin.stats.newly_created
    data = blob(50_000)
    async with make_client(walrus, timeout_s=0.2) as client:
        stored = await client.store(data)
    assert not stored.newly_created and stored.blob_id == standin_blob_id(data)
    assert standin.stats.newly_created == created + 1  # paid once
    assert standin.stats.faults["store_then_hang"] >= 1


async def test_connection_refused(walrus: RunningWalrus) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with WalrusClient(
        aggregator_url=f"http://127.0.0.1:{port}",
        publisher_url=f"http://127.0.0.1:{port}",
        retry=FAST,
    ) as client:
        with pytest.raises(BlobStoreUnavailable, match=r"gave up after 5 attempt.*ConnectError"):
            await client.read(standin_blob_id(b"x"))
        with pytest.raises(BlobStoreUnavailable, match="ConnectError"):
            await client.store(b"x")


# --- configuration and limits ---------------------------------------------------------------------------------


async def test_store_needs_a_publisher_reads_do_not(walrus: RunningWalrus) -> None:
    async with make_client(walrus) as writer:
        stored = await writer.store(b"readable without a publisher")
    async with WalrusClient(aggregator_url=walrus.url, retry=FAST) as reader:
        assert await reader.read(stored.blob_id) == b"readable without a publisher"
        with pytest.raises(ConfigError, match=r"walrus\.publisher_url") as caught:
            await reader.store(b"x")
        assert caught.value.setting == "walrus.publisher_url"


async def test_over_cap_store_is_refused_before_sending(walrus: RunningWalrus) -> None:
    standin = walrus.standin
    puts = standin.stats.requests[PUTS]
    async with make_client(walrus, max_request_bytes=64 * 1024) as client:
        with pytest.raises(BlobTooLarge, match=r"65537 bytes exceed .* cap of 65536"):
            await client.store(blob(64 * 1024 + 1))
        assert standin.stats.requests[PUTS] == puts
        assert (await client.store(blob(64 * 1024))).newly_created
    # A publisher with a smaller cap than ours answers 413: a typed error, not retried.
    async with make_client(walrus, max_request_bytes=2 * CAP) as client:
        puts = standin.stats.requests[PUTS]
        with pytest.raises(BlobTooLarge, match=r"HTTP 413 Failed to buffer .* length limit"):
            await client.store(blob(CAP + 1))
        assert standin.stats.requests[PUTS] == puts + 1


async def test_from_settings(walrus: RunningWalrus) -> None:
    settings = load_settings(
        walrus={
            "publisher_url": walrus.url,
            "aggregator_url": walrus.url,
            "epochs": 3,
            "retries": 2,
            "max_request_bytes": 64 * 1024,
        }
    )
    async with WalrusClient.from_settings(settings) as client:
        assert client.retry.retries == 2 and client.max_request_bytes == 64 * 1024
        stored = await client.store(b"from settings")
        assert stored.end_epoch == walrus.standin.epoch + 3
    mainnet = load_settings(network="mainnet")
    async with WalrusClient.from_settings(mainnet) as client:
        assert client.publisher_url is None  # there is no public mainnet publisher
        assert client.aggregator_url == "https://aggregator.walrus-mainnet.walrus.space"
        with pytest.raises(ConfigError):
            await client.store(b"x")
    with pytest.raises(ConfigError, match=r"walrus.aggregator_url"):
        WalrusClient(aggregator_url="ftp://example.com")


async def test_not_found_and_malformed_ids(walrus: RunningWalrus, client: WalrusClient) -> None:
    gets = walrus.standin.stats.requests[BLOB_GETS]
    with pytest.raises(BlobNotFound, match="HTTP 404 NOT_FOUND/BLOB_NOT_FOUND"):
        await client.read(standin_blob_id(b"nobody stored this"))
    assert walrus.standin.stats.requests[BLOB_GETS] == gets + 1  # a 404 is an answer, not a fault
    for bad in ("../status", "x" * 43 + "?a=b", "short", standin_blob_id(b"x") + "="):
        with pytest.raises(BlobNotFound, match="is not a Walrus blob id"):
            await client.read(bad)
    assert walrus.standin.stats.requests[BLOB_GETS] == gets + 1


async def test_read_back_after_store(walrus: RunningWalrus) -> None:
    async with make_client(walrus, read_back=True) as client:
        stored = await client.store(blob(1000))
        assert stored.newly_created
        # An aggregator serving other bytes under the new id fails the store.
        walrus.standin.set_faults(hostile=Hostile.WRONG_BYTES)
        with pytest.raises(BlobIntegrityError, match="sha256"):
            await client.store(blob(1000))


async def test_a_publisher_url_that_is_no_publisher(walrus: RunningWalrus) -> None:
    async with make_client(walrus, publisher_url=f"{walrus.url}/elsewhere") as client:
        with pytest.raises(BlobStoreError, match=r"HTTP 404 .*walrus.publisher_url") as caught:
            await client.store(b"x")
        assert not isinstance(caught.value, BlobNotFound)
