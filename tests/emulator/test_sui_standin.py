"""The Sui stand-in over gRPC: pysui's own client, read masks, subscriptions, faults, and `run()`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pysui.sui.sui_grpc.pgrpc_requests as rn
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2
import pytest
from grpclib.client import Channel
from pysui import PysuiConfiguration
from pysui.sui.sui_common.config.confgroup import GroupProtocol, NetworkType
from pysui.sui.sui_grpc.pgrpc_clients import GrpcProtocolClient
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask

from daas.chain.client import SuiClient
from daas.chain.codecs import BuildSpec
from daas.chain.keys import SuiSigner
from daas.errors import ChainUnavailable
from emulator.sui.standin import MIST_PER_SUI
from emulator.sui.testing import FAST_RETRY, DevChain, dev_chain

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def chain() -> AsyncIterator[DevChain]:
    async with dev_chain() as running:
        yield running


class PlainGrpcClient(GrpcProtocolClient):  # type: ignore[misc]
    """pysui forces TLS; the research note's four-line subclass swaps in a plaintext channel."""

    def __init__(self, *, pysui_config: Any, host: str, port: int) -> None:
        super().__init__(pysui_config=pysui_config)
        self._channel.close()
        self._channel = Channel(host=host, port=port)


def _pysui_client(url: str, tmp_path: Path) -> PlainGrpcClient:
    config = PysuiConfiguration.initialize_config(
        in_folder=tmp_path, init_groups=[{"name": "bootstrap"}]
    )
    config.new_group(
        group_name="test",
        group_protocol=GroupProtocol.GRPC,
        make_group_active=True,
        profile_block=[
            {
                "profile_name": "local",
                "url": url,
                "network_type": NetworkType.LOCAL,
                "make_active": True,
            }
        ],
        key_block=[{"key_string": SuiSigner.generate().keystore_entry()}],
        active_address_index=0,
        persist=False,
    )
    host, port = url.removeprefix("http://").split(":")
    return PlainGrpcClient(pysui_config=config, host=host, port=int(port))


async def test_pysuis_own_client_reads_everything(chain: DevChain, tmp_path: Path) -> None:
    async with _pysui_client(chain.standin.url, tmp_path) as client:  # sends GetEpoch
        assert client.current_gas_price == 1000
        info = (await client.execute_grpc_request(request=rn.GetServiceInfo())).result_data
        assert info.chain_id == chain.standin.chain_id and info.checkpoint_height >= 0
        # pysui's default checkpoint mask is "*": the whole genesis checkpoint must encode and decode.
        genesis = await client.execute_grpc_request(
            request=rn.GetCheckpointBySequence(sequence_number=0)
        )
        checkpoint = genesis.result_data.checkpoint
        assert checkpoint.digest == chain.standin.chain_id
        (tx,) = checkpoint.transactions
        assert tx.effects.status.success and tx.events.events[0].event_type.endswith(
            "::RegistryUpdated"
        )
        gas = await client.execute_grpc_request(request=rn.GetGas(owner=chain.users[0].address))
        (coin,) = gas.result_data.objects
        assert (
            coin.balance == 100 * MIST_PER_SUI
            and coin.object_type == "0x2::coin::Coin<0x2::sui::SUI>"
        )
        obj = await client.execute_grpc_request(
            request=rn.GetObject(object_id=chain.standin.registry_id)
        )
        owner = obj.result_data.object.owner
        assert owner.kind == v2.OwnerOwnerKind.SHARED and owner.version == 1


@contextlib.asynccontextmanager
async def _channel(url: str) -> AsyncIterator[Channel]:
    host, port = url.removeprefix("http://").split(":")
    channel = Channel(host=host, port=int(port))
    try:
        yield channel
    finally:
        channel.close()


async def test_read_masks_are_honoured_with_documented_defaults(chain: DevChain) -> None:
    async with _channel(chain.standin.url) as channel:
        ledger = v2.LedgerServiceStub(channel)
        bare = (await ledger.get_checkpoint(v2.GetCheckpointRequest(sequence_number=0))).checkpoint
        assert (bare.sequence_number, bare.digest) == (0, chain.standin.chain_id)
        assert bare.summary is None and bare.transactions == []
        mask = FieldMask(["transactions.events.events.event_type"])
        masked = (
            await ledger.get_checkpoint(v2.GetCheckpointRequest(sequence_number=0, read_mask=mask))
        ).checkpoint
        (event,) = masked.transactions[0].events.events
        assert event.event_type.endswith("::RegistryUpdated") and event.contents is None
        assert masked.sequence_number is None and masked.transactions[0].effects is None
        obj = (
            await ledger.get_object(v2.GetObjectRequest(object_id=chain.standin.registry_id))
        ).object
        assert obj.version == 1 and obj.digest and obj.owner is None and obj.contents is None
        batch = await ledger.batch_get_objects(
            v2.BatchGetObjectsRequest(
                requests=[
                    v2.GetObjectRequest(object_id=chain.standin.registry_id),
                    v2.GetObjectRequest(object_id="0x" + "ab" * 32),
                ]
            )
        )
        found, missing = batch.objects
        assert found.object.object_id == chain.standin.registry_id
        assert missing.object is None and missing.error.code == 5  # NOT_FOUND
        state = v2.StateServiceStub(channel)
        listed = await state.list_owned_objects(
            v2.ListOwnedObjectsRequest(owner=chain.users[0].address, object_type="0x2::coin::Coin")
        )
        (coin,) = listed.objects
        assert coin.object_type == "0x2::coin::Coin<0x2::sui::SUI>" and coin.balance is None


async def test_list_owned_objects_pages(chain: DevChain) -> None:
    user = chain.users[1]
    for amount in (1, 2, 3):
        chain.standin.fund(user.address, amount)
    async with _channel(chain.standin.url) as channel:
        state = v2.StateServiceStub(channel)
        token, ids = None, []
        while True:
            page = await state.list_owned_objects(
                v2.ListOwnedObjectsRequest(owner=user.address, page_size=1, page_token=token)
            )
            ids.extend(o.object_id for o in page.objects)
            token = page.next_page_token
            if not token:
                break
    assert len(ids) == 4 and ids == sorted(ids)
    assert len(await chain.client.list_gas_coins(user.address)) == 4
    assert await chain.client.get_balance(user.address) == 100 * MIST_PER_SUI + 6


async def test_execute_default_mask_is_status_and_checkpoint(chain: DevChain) -> None:
    user = chain.users[0]
    submitter = chain.submitter(user)
    spec = BuildSpec("blob", bytes(32), "Dockerfile", "linux/amd64")
    tx_bytes = await submitter.prepare(chain.package.request_build(spec, 10_000_000))
    request = v2.ExecuteTransactionRequest(
        transaction=v2.Transaction(bcs=v2.Bcs(value=tx_bytes)),
        signatures=[v2.UserSignature(bcs=v2.Bcs(value=_raw_signature(user, tx_bytes)))],
    )
    async with _channel(chain.standin.url) as channel:
        executed = (
            await v2.TransactionExecutionServiceStub(channel).execute_transaction(request)
        ).transaction
    assert executed.effects.status.success and executed.digest is None
    assert executed.effects.gas_used is None and executed.events is None


def _raw_signature(signer: SuiSigner, tx_bytes: bytes) -> bytes:
    return base64.b64decode(signer.sign_transaction(tx_bytes))


async def test_timer_cuts_chained_checkpoints_and_subscriptions_start_at_the_tip(
    chain: DevChain,
) -> None:
    await chain.standin.wait_for_checkpoint(2)
    before = chain.standin.node.latest_checkpoint.sequence_number
    async with contextlib.aclosing(chain.client.subscribe_checkpoints()) as stream:
        first = await anext(stream)
        after = chain.standin.node.latest_checkpoint.sequence_number
        assert before <= first.sequence_number <= after  # the tip when the stream opened
        frames = [first, await anext(stream), await anext(stream)]
    assert [f.sequence_number for f in frames] == list(
        range(first.sequence_number, first.sequence_number + 3)
    )
    records = [chain.standin.node.checkpoints[f.sequence_number] for f in frames]
    for previous, current in itertools.pairwise(records):
        assert current.previous_digest == previous.digest
        assert current.timestamp_ms >= previous.timestamp_ms
    assert all(r.transactions == () for r in records)  # empty checkpoints are cut too


async def test_stream_faults_surface_as_chain_unavailable() -> None:
    async with dev_chain(checkpoint_interval_s=0.01) as chain:
        chain.standin.set_faults(stream_drop_after=3)
        received = []
        with pytest.raises(ChainUnavailable, match="UNAVAILABLE"):
            async with contextlib.aclosing(chain.client.subscribe_checkpoints()) as stream:
                async for checkpoint in stream:
                    received.append(checkpoint.sequence_number)
        assert len(received) == 3
        chain.standin.set_faults(stream_drop_rate=1.0)
        with pytest.raises(ChainUnavailable):
            async with contextlib.aclosing(chain.client.subscribe_checkpoints()) as stream:
                async for _ in stream:
                    pass


async def test_latency_is_added(chain: DevChain) -> None:
    chain.standin.set_faults(latency_s=0.05)
    started = time.monotonic()
    await chain.client.service_info()
    assert time.monotonic() - started >= 0.05


async def test_run_prints_one_json_line_and_serves(tmp_path: Path) -> None:
    state = tmp_path / "sui.db"
    code = (
        "from emulator.sui.standin import run; "
        f"run(port=0, state_file={str(state)!r}, funded=[('0x' + '12' * 32, 5)])"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        info = json.loads(line)
        assert {
            "grpc_url",
            "chain_id",
            "package_id",
            "registry_id",
            "enclave_config_id",
            "admin_address",
            "admin_cap_id",
            "admin_keystore",
        } <= info.keys()
        keystore = anyio.Path(info["admin_keystore"])
        assert (await keystore.stat()).st_mode & 0o777 == 0o600
        signer = SuiSigner.from_keystore(Path(info["admin_keystore"]))
        assert signer.address == info["admin_address"]
        async with SuiClient(
            info["grpc_url"], expected_chain_id=info["chain_id"], retry=FAST_RETRY
        ) as client:
            assert await client.get_balance("0x" + "12" * 32) == 5
            registry = await client.get_object(info["registry_id"])
            assert registry.object_type == f"{info['package_id']}::builds::Registry"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, stderr
    assert stdout == b""  # exactly one line was printed
    assert await anyio.Path(state).exists()
