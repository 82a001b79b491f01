"""`/v1/requests`: prepare an unsigned request_build, sign it as a wallet does, execute it; and every way
that goes wrong. Against the Sui stand-in over gRPC and the API served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.deps import HealthPolicy
from daas.chain.client import RetryPolicy, SuiClient
from daas.chain.codecs import BuildRequestObject, BuildSpec, RequestStatus
from daas.chain.keys import SuiSigner
from daas.chain.ports import ChainWriter
from daas.config import ApiSettings, Settings, load_settings
from emulator.sui.standin import MIST_PER_SUI, SuiStandIn
from emulator.sui.testing import FAST_RETRY, DevChain, dev_chain, dev_signer
from indexer.grpc_source import GrpcCheckpointSource
from indexer.service import Indexer
from tests.api.support import serve

pytestmark = pytest.mark.anyio

BLOB_ID = "M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk"
SHA = hashlib.sha256(b"bundle").hexdigest()
MIN_FEE = 10_000_000
PROBLEM = "application/problem+json"


def chain_settings(tmp_path: Path, standin: SuiStandIn | None, **chain: Any) -> Settings:
    values: dict[str, Any] = {}
    if standin is not None:
        values = {
            "grpc_url": standin.url,
            "chain_id": standin.chain_id,
            "package_id": standin.package_id,
            "registry_id": standin.registry_id,
            "enclave_config_id": standin.enclave_config_id,
        }
    values.update(chain)
    return load_settings(
        data_dir=tmp_path,
        walrus={"aggregator_url": "http://127.0.0.1:9", "publisher_url": "http://127.0.0.1:9"},
        chain=values,
        # No indexer runs in most of these tests: do not wait long for the build row.
        api={"index_wait_s": 0.2},
    )


@contextlib.asynccontextmanager
async def api(
    settings: Settings, engine: sa.Engine, chain: ChainWriter | None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine, health=HealthPolicy(None, None), chain=chain)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield http


@pytest.fixture
async def running(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> AsyncIterator[tuple[DevChain, httpx.AsyncClient]]:
    async with dev_chain(users=2) as chain:
        settings = chain_settings(tmp_path, chain.standin)
        async with api(settings, sqlite_engine, chain.client) as http:
            yield chain, http


def order(sender: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sender": sender,
        "source_blob_id": BLOB_ID,
        "source_sha256": SHA,
        "dockerfile_path": "Dockerfile",
        "platform": "linux/amd64",
        "fee": MIN_FEE,
    }
    body.update(fields)
    return body


async def prepare(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/v1/requests/prepare", json=body)
    assert response.status_code == 200, response.text
    prepared: dict[str, Any] = response.json()
    return prepared


async def execute(http: httpx.AsyncClient, tx_bytes: str, signature: str) -> httpx.Response:
    return await http.post(
        "/v1/requests/execute", json={"tx_bytes": tx_bytes, "signature": signature}
    )


def sign(signer: SuiSigner, prepared: dict[str, Any]) -> str:
    return signer.sign_transaction(base64.b64decode(prepared["tx_bytes"]))


def problem(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if kind is not None:
        assert body["type"].endswith("/" + kind), body
    return body


async def test_prepare_sign_execute_creates_the_request(
    running: tuple[DevChain, httpx.AsyncClient],
) -> None:
    chain, http = running
    user = chain.users[0]
    prepared = await prepare(http, order(user.address, fee=MIN_FEE + 5))
    summary = prepared["summary"]
    assert summary["function"] == "daas::builds::request_build"
    assert summary["fee"] == MIN_FEE + 5
    assert summary["gas_budget"] == 100_000_000
    assert summary["gas_price"] == 1_000
    assert summary["bundle"] == {
        "blob_id": BLOB_ID,
        "sha256": SHA,
        "dockerfile": "Dockerfile",
        "platform": "linux/amd64",
    }
    assert summary["registry_id"] == chain.package.registry_id
    assert summary["package_id"] == chain.package.package_id
    assert prepared["sender"] == user.address
    assert len(summary["gas_coins"]) == 1

    response = await execute(http, prepared["tx_bytes"], sign(user, prepared))
    assert response.status_code == 200, response.text
    executed = response.json()
    assert executed["digest"] == prepared["digest"]
    assert executed["status"] == "pending"
    assert executed["request_id"] in executed["explorer_request_url"]

    info = await chain.client.get_object(executed["request_id"])
    assert info.contents is not None
    request = BuildRequestObject.from_bcs(info.contents)
    assert request.requester == user.address
    assert request.spec == BuildSpec(BLOB_ID, bytes.fromhex(SHA), "Dockerfile", "linux/amd64")
    assert request.fee_amount == MIN_FEE + 5
    assert request.status == RequestStatus.PENDING

    # The same signed bytes again: Sui answers with the first result, no second request.
    again = await execute(http, prepared["tx_bytes"], sign(user, prepared))
    assert again.status_code == 200, again.text
    assert again.json()["request_id"] == executed["request_id"]

    # The fee defaults to the registry's minimum.
    default = await prepare(http, {k: v for k, v in order(user.address).items() if k != "fee"})
    assert default["summary"]["fee"] == MIN_FEE


async def test_execute_answers_once_the_indexer_has_the_build(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    """With an indexer on the same database, the answer comes after the build row, so a page that opens
    `/v1/builds/{id}` next never sees a 404; without one, it comes after `api.index_wait_s`."""
    async with dev_chain(users=1) as chain:
        settings = chain_settings(tmp_path, chain.standin).model_copy(
            update={"api": ApiSettings(index_wait_s=20)}
        )
        user = chain.users[0]
        async with api(settings, sqlite_engine, chain.client) as http:
            # No indexer yet: after the wait, `indexed` is false and the build is unknown here.
            fast = settings.model_copy(update={"api": ApiSettings(index_wait_s=0.3)})
            async with api(fast, sqlite_engine, chain.client) as impatient:
                prepared = await prepare(impatient, order(user.address))
                early = await execute(impatient, prepared["tx_bytes"], sign(user, prepared))
            assert early.status_code == 200 and early.json()["indexed"] is False

            stop = asyncio.Event()
            async with (
                GrpcCheckpointSource(chain.standin.url) as source,
                anyio.create_task_group() as tg,
            ):
                indexer = Indexer(settings, engine=sqlite_engine, source=source)
                tg.start_soon(indexer.run, stop)
                prepared = await prepare(http, order(user.address, fee=MIN_FEE + 1))
                executed = await execute(http, prepared["tx_bytes"], sign(user, prepared))
                assert executed.status_code == 200, executed.text
                body = executed.json()
                assert body["indexed"] is True
                found = await http.get(f"/v1/builds/{body['request_id']}")
                assert found.status_code == 200 and found.json()["status"] == "pending"
                stop.set()


async def test_invalid_orders(running: tuple[DevChain, httpx.AsyncClient]) -> None:
    chain, http = running
    user = chain.users[0]
    post = "/v1/requests/prepare"
    for field, value in [
        ("sender", "alice"),
        ("sender", "0x" + "g" * 64),
        ("source_blob_id", "not-a-blob-id"),
        ("source_sha256", "abc"),
        ("fee", -1),
        ("platform", ""),
    ]:
        body = problem(await http.post(post, json={**order(user.address), field: value}), 422)
        assert body["errors"][0]["loc"] == ["body", field], body

    too_long = problem(await http.post(post, json=order(user.address, platform="é" * 20)), 422)
    assert "platform is 40 bytes" in too_long["detail"]

    low = problem(
        await http.post(post, json=order(user.address, fee=MIN_FEE - 1)), 422, "fee-too-low"
    )
    assert low["min_fee"] == MIN_FEE
    assert f"minimum fee of {MIN_FEE} MIST" in low["detail"]


async def test_insufficient_balance(running: tuple[DevChain, httpx.AsyncClient]) -> None:
    chain, http = running
    user = chain.users[0]
    post = "/v1/requests/prepare"
    fee = 200 * MIST_PER_SUI
    body = problem(
        await http.post(post, json=order(user.address, fee=fee)), 402, "insufficient-balance"
    )
    assert body["needed"] == fee + 100_000_000
    assert body["available"] == 100 * MIST_PER_SUI
    assert f"need {fee + 100_000_000} MIST" in body["detail"]

    nobody = SuiSigner.generate()
    empty = problem(await http.post(post, json=order(nobody.address)), 402, "insufficient-balance")
    assert empty["available"] == 0
    assert empty["needed"] == MIN_FEE + 100_000_000


async def test_rejected_signatures(running: tuple[DevChain, httpx.AsyncClient]) -> None:
    chain, http = running
    user, other = chain.users
    prepared = await prepare(http, order(user.address))

    wrong_key = problem(await execute(http, prepared["tx_bytes"], sign(other, prepared)), 400)
    assert wrong_key["type"].endswith("/bad-signature")
    assert wrong_key["detail"].startswith("the signature does not match the transaction/sender")

    raw = bytearray(base64.b64decode(prepared["tx_bytes"]))
    at = raw.index(BLOB_ID.encode())
    raw[at] ^= 0x01  # another (still well-formed) blob id: what the user signed is not what is sent
    tampered = problem(
        await execute(http, base64.b64encode(bytes(raw)).decode(), sign(user, prepared)), 400
    )
    assert tampered["type"].endswith("/bad-signature")

    garbage = problem(await execute(http, "not base64!", sign(user, prepared)), 422)
    assert garbage["errors"][0]["loc"] == ["body", "tx_bytes"]
    not_a_tx = problem(await execute(http, "AAAA", sign(user, prepared)), 422)
    assert not_a_tx["errors"][0]["loc"] == ["body", "tx_bytes"]

    # Anything but request_build is refused before it reaches the node.
    admin = chain.submitter(chain.admin)
    pause = await admin.prepare(chain.package.set_paused(chain.standin.admin_cap_id, True))
    signature = chain.admin.sign_transaction(pause)
    foreign = problem(
        await execute(http, base64.b64encode(pause).decode(), signature), 422, "not-a-build-request"
    )
    assert "builds::set_paused" in foreign["detail"]
    registry = await http.post("/v1/requests/prepare", json=order(user.address))
    assert registry.status_code == 200, registry.text  # not paused

    # Nothing executed: the right signature still works afterwards.
    ok = await execute(http, prepared["tx_bytes"], sign(user, prepared))
    assert ok.status_code == 200, ok.text


async def test_paused_registry(running: tuple[DevChain, httpx.AsyncClient]) -> None:
    chain, http = running
    user = chain.users[0]
    prepared = await prepare(http, order(user.address))  # before the pause
    admin = chain.submitter(chain.admin)
    await admin.submit(chain.package.set_paused(chain.standin.admin_cap_id, True))

    paused = problem(
        await http.post("/v1/requests/prepare", json=order(user.address)), 409, "registry-paused"
    )
    assert "paused" in paused["detail"]

    # Signed before the pause, executed after: the Move code aborts with EPaused.
    aborted = problem(
        await execute(http, prepared["tx_bytes"], sign(user, prepared)), 422, "move-abort"
    )
    assert (aborted["module"], aborted["function"]) == ("builds", "request_build")
    assert (aborted["abort_code"], aborted["abort_name"]) == (1, "EPaused")
    assert aborted["detail"].startswith("the registry is paused")
    assert aborted["digest"] == prepared["digest"]


async def test_coins_merged_when_none_covers_fee_and_gas(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    user = dev_signer("many-coins")
    coin = 40_000_000  # fee + budget = 110_000_000: three coins of 40_000_000 together
    funded = [(user.address, coin)] * 4 + [(user.address, 1_000)]
    async with SuiStandIn(funded=funded, seed="merge", checkpoint_interval_s=0.05) as standin:
        client = SuiClient(standin.url, package_id=standin.package_id, retry=FAST_RETRY)
        async with client:
            settings = chain_settings(tmp_path, standin)
            async with api(settings, sqlite_engine, client) as http:
                prepared = await prepare(http, order(user.address))
                assert len(prepared["summary"]["gas_coins"]) == 3
                response = await execute(http, prepared["tx_bytes"], sign(user, prepared))
                assert response.status_code == 200, response.text
            coins = {c.ref.object_id: c.balance for c in await client.list_gas_coins(user.address)}
            # The three gas coins became the first; the fourth and the small one are untouched.
            first, *merged = prepared["summary"]["gas_coins"]
            assert first in coins and not set(merged) & coins.keys()
            assert sorted(coins.values())[:2] == [1_000, coin]
            assert len(coins) == 3


async def test_client_from_settings_created_on_first_use(
    tmp_path: Path, sqlite_engine: sa.Engine
) -> None:
    # Unreachable node: the API starts, and answers 503 until the node is there.
    settings = chain_settings(
        tmp_path,
        None,
        grpc_url="http://127.0.0.1:9",
        chain_id="abcd1234",
        package_id="0x1",
        registry_id="0x2",
        enclave_config_id="0x3",
    )
    async with api(settings, sqlite_engine, None) as http:
        assert (await http.get("/v1/config")).status_code == 200
        down = await http.post("/v1/requests/prepare", json=order(dev_signer("x").address))
        body = problem(down, 503, "chain-unavailable")
        assert "unreachable" in body["detail"]
        assert down.headers["retry-after"] == "1"

    # Reachable: connected lazily, the whole flow works.
    user = dev_signer("lazy")
    async with SuiStandIn(funded=[(user.address, MIST_PER_SUI)], seed="lazy") as standin:
        settings = chain_settings(tmp_path, standin)
        async with api(settings, sqlite_engine, None) as http:
            prepared = await prepare(http, order(user.address))
            response = await execute(http, prepared["tx_bytes"], sign(user, prepared))
            assert response.status_code == 200, response.text


async def test_network_not_configured(tmp_path: Path, sqlite_engine: sa.Engine) -> None:
    settings = chain_settings(tmp_path, None, grpc_url="http://127.0.0.1:9")
    never = SuiClient("http://127.0.0.1:9", retry=RetryPolicy(attempts=1))  # never connected
    async with api(settings, sqlite_engine, never) as http:
        user = dev_signer("x")
        body = problem(
            await http.post("/v1/requests/prepare", json=order(user.address)),
            503,
            "chain-unavailable",
        )
        assert body["setting"] == "chain.package_id"
        assert "chain.package_id" in body["detail"]
        executed = problem(await execute(http, "AAAA", "AAAA"), 503)
        assert executed["setting"] == "chain.package_id"


async def test_openapi_documents_both_endpoints(tmp_path: Path, sqlite_engine: sa.Engine) -> None:
    settings = chain_settings(tmp_path, None)
    async with api(settings, sqlite_engine, None) as http:
        document = (await http.get("/openapi.json")).json()
    prepare_op = document["paths"]["/v1/requests/prepare"]["post"]
    execute_op = document["paths"]["/v1/requests/execute"]["post"]
    assert prepare_op["tags"] == execute_op["tags"] == ["requests"]
    assert prepare_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PrepareBuildRequest"
    )
    assert {"402", "409", "422", "503"} <= prepare_op["responses"].keys()
    assert {"400", "422", "503"} <= execute_op["responses"].keys()
    ok = execute_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/ExecutedRequest")
    schemas = document["components"]["schemas"]
    assert {"sender", "source_blob_id", "source_sha256", "fee"} <= schemas["PrepareBuildRequest"][
        "properties"
    ].keys()
    assert "tx_bytes" in schemas["PreparedTransaction"]["properties"]
    abort = prepare_op["responses"]["402"]["content"][PROBLEM]["schema"]["properties"]
    assert {"needed", "available", "abort_code"} <= abort.keys()
