"""`SuiClient` (pysui's gRPC client underneath) against the Sui stand-in over real gRPC on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
from pathlib import Path

import pytest

from daas.chain import codecs
from daas.chain.client import RetryPolicy, SuiClient
from daas.chain.codecs import BuildSpec, BuildSucceededPayload, RegistryObject
from daas.chain.hashing import transaction_digest_b58
from daas.chain.keys import SuiSigner
from daas.chain.transactions import (
    DaasPackage,
    TransactionSubmitter,
    build_programmable,
    transaction_data,
)
from daas.chain.types import Checkpoint, ObjectRef
from daas.config import load_settings
from daas.errors import (
    ChainError,
    ChainIdMismatch,
    ChainUnavailable,
    CheckpointPruned,
    ObjectNotFound,
    OutcomeUnknown,
    TransactionFailed,
    TransactionRejected,
)
from emulator.sui.standin import MIST_PER_SUI, SuiStandIn
from emulator.sui.testing import FAST_RETRY, DevChain, dev_chain, dev_signer, sign_result

pytestmark = pytest.mark.anyio

SPEC = BuildSpec("blob-abc", hashlib.sha256(b"bundle").digest(), "Dockerfile", "linux/amd64")
FEE = 10_000_000  # the package's default minimum fee
TESTNET = "69WiPg3DAQiwdxfncX6wYQ2siKwAe6L9BZthQea3JNMD"


async def _offline_request_build(chain: DevChain, signer: SuiSigner) -> bytes:
    """Signed `request_build` bytes from reads a wallet would make, built without pysui's resolver."""
    client = chain.client
    registry = await client.get_object(chain.standin.registry_id)
    coin = max(await client.list_gas_coins(signer.address), key=lambda c: c.balance)
    kind = build_programmable(
        [chain.package.request_build(SPEC, FEE)], {registry.object_id: registry}
    )
    return transaction_data(
        kind,
        sender=signer.address,
        gas=[coin.ref],
        gas_price=await client.reference_gas_price(),
        gas_budget=50_000_000,
    )


async def test_subscribe_backfill_submit_and_see_the_event(chain: DevChain) -> None:
    """The headline: subscribe, backfill by sequence number, submit request_build, see BuildRequested."""
    client, user = chain.client, chain.users[0]
    await chain.standin.wait_for_checkpoint(3)
    watermark = -1  # a fresh indexer
    seen: list[Checkpoint] = []
    async with contextlib.aclosing(client.subscribe_checkpoints()) as stream:
        first = await anext(stream)
        for seq in range(watermark + 1, first.sequence_number):  # backfill up to the stream's start
            seen.append(await client.get_checkpoint(seq))
        seen.append(first)
        tx_bytes = await _offline_request_build(chain, user)
        result = await client.execute(tx_bytes, [user.sign_transaction(tx_bytes)])
        assert result.ok and result.digest == transaction_digest_b58(tx_bytes)
        assert [type(e) for e in result.decoded_events()] == [codecs.BuildRequested]
        (created,) = [c for c in result.created if c.object_type.endswith("::BuildRequest")]
        assert created.initial_shared_version == result.lamport_version == created.version
        async with asyncio.timeout(5):
            async for checkpoint in stream:
                seen.append(checkpoint)
                if any(tx.digest == result.digest for tx in checkpoint.transactions):
                    break
    assert [c.sequence_number for c in seen] == list(range(len(seen)))  # no gaps, no repeats
    genesis = seen[0].transactions[0].events
    assert [type(e.decoded) for e in genesis] == [codecs.RegistryUpdated]
    tx = next(t for t in seen[-1].transactions if t.digest == result.digest)
    (event,) = tx.events
    assert event.event_type == f"{chain.standin.package_id}::builds::BuildRequested"
    requested = codecs.decode_event("builds", "BuildRequested", event.contents)
    assert requested == event.decoded
    assert isinstance(requested, codecs.BuildRequested)
    assert (requested.requester, requested.spec, requested.fee) == (user.address, SPEC, FEE)
    assert requested.spec_digest == SPEC.digest()
    assert requested.deadline_ms == requested.created_at_ms + 3_600_000
    assert seen[-1].timestamp_ms is not None and seen[-1].timestamp_ms >= requested.created_at_ms
    assert chain.standin.node.transactions[result.digest].checkpoint == seen[-1].sequence_number


async def test_chain_id_mismatch_is_a_clear_startup_error(chain: DevChain) -> None:
    client = SuiClient(chain.standin.url, expected_chain_id=TESTNET, retry=FAST_RETRY)
    with pytest.raises(ChainIdMismatch) as info:
        await client.connect()
    message = str(info.value)
    assert chain.standin.chain_id in message and TESTNET in message
    assert "chain.chain_id" in message
    settings = load_settings(network="testnet", chain={"grpc_url": chain.standin.url})
    with pytest.raises(ChainIdMismatch, match="testnet network preset"):
        async with SuiClient.from_settings(settings):
            pass


async def test_tls_url_against_a_plaintext_node_fails_clearly(chain: DevChain) -> None:
    https = chain.standin.url.replace("http://", "https://")
    client = SuiClient(https, retry=RetryPolicy(attempts=1))
    with pytest.raises(ChainUnavailable, match="TLS handshake failed"):
        await client.connect()


async def test_api_token_is_sent_as_x_token_and_never_shown(chain: DevChain) -> None:
    settings = load_settings(chain={"grpc_url": chain.standin.url, "api_token": "s3cret-token"})
    client = SuiClient.from_settings(settings)
    async with client:
        await client.service_info()
    assert chain.standin.service.last_metadata.get("x-token") == "s3cret-token"
    assert "s3cret" not in repr(client) and "s3cret" not in str(vars(client).get("url"))


async def test_unreachable_node_is_chain_unavailable() -> None:
    client = SuiClient("http://127.0.0.1:1", retry=RetryPolicy(attempts=2, base_delay_s=0.001))
    with pytest.raises(ChainUnavailable, match="unreachable"):
        await client.connect()


async def test_signatures_are_checked(chain: DevChain) -> None:
    client, user, other = chain.client, chain.users[0], chain.users[1]
    tx_bytes = await _offline_request_build(chain, user)
    coin_before = (await client.list_gas_coins(user.address))[0].ref
    with pytest.raises(TransactionRejected, match="signature is from"):
        await client.execute(tx_bytes, [other.sign_transaction(tx_bytes)])
    tampered = bytearray(tx_bytes)
    tampered[-20] ^= 1  # inside the gas budget: still decodes, no longer what was signed
    with pytest.raises(TransactionRejected, match="invalid user signature"):
        await client.execute(bytes(tampered), [user.sign_transaction(tx_bytes)])
    forged_sender = tx_bytes.replace(
        bytes.fromhex(user.address[2:]), bytes.fromhex(other.address[2:])
    )
    with pytest.raises(TransactionRejected) as info:
        await client.execute(forged_sender, [user.sign_transaction(forged_sender)])
    assert info.value.digest == transaction_digest_b58(forged_sender)
    assert (await client.list_gas_coins(user.address))[0].ref == coin_before  # nothing charged


async def test_gas_coin_churn_over_20_transactions(chain: DevChain) -> None:
    user = chain.users[0]
    submitter = chain.submitter(user)
    balance_before = await chain.client.get_balance(user.address)
    versions: list[int] = []
    spent = 0
    for i in range(20):
        spec = BuildSpec(f"blob-{i}", SPEC.source_sha256, "Dockerfile", "linux/amd64")
        result = await submitter.submit(chain.package.request_build(spec, FEE))
        assert result.ok and result.gas_object is not None and result.gas_used is not None
        versions.append(result.gas_object.version)
        spent += FEE + result.gas_used.net
    assert versions == sorted(set(versions))  # a new version every time
    (coin,) = await chain.client.list_gas_coins(user.address)
    assert coin.ref == await submitter.gas.current()
    assert await chain.client.get_balance(user.address) == balance_before - spent


async def test_move_aborts_are_reported_with_their_code(chain: DevChain) -> None:
    user = chain.users[0]
    submitter = chain.submitter(user)
    with pytest.raises(TransactionFailed) as info:
        await submitter.submit(chain.package.request_build(SPEC, FEE - 1))
    error = info.value
    assert (error.abort_code, error.module, error.function) == (3, "builds", "request_build")
    assert error.digest is not None
    # The failed transaction still charged gas and moved the gas coin.
    (coin,) = await chain.client.list_gas_coins(user.address)
    assert coin.balance < 100 * MIST_PER_SUI and coin.ref == await submitter.gas.current()
    request = await submitter.submit(chain.package.request_build(SPEC, FEE))
    request_id = _requested(request).request_id
    with pytest.raises(TransactionFailed) as info:
        await submitter.submit(chain.package.cancel(request_id))
    assert (info.value.abort_code, info.value.module) == (8, "builds")  # ETooEarlyToCancel
    with pytest.raises(TransactionFailed) as info:
        await chain.submitter(chain.users[1]).submit(chain.package.cancel(request_id))
    assert info.value.abort_code == 7  # ENotRequester
    chain.standin.advance_clock(3_600_001)
    cancelled = await submitter.submit(chain.package.cancel(request_id))
    (event,) = cancelled.decoded_events()
    assert isinstance(event, codecs.BuildCancelled) and event.refunded == FEE
    refund = [c for c in cancelled.created if c.object_type == "0x2::coin::Coin<0x2::sui::SUI>"]
    assert len(refund) == 1 and refund[0].owner_address == user.address
    request_object = await chain.client.get_object(request_id)
    assert request_object.is_shared and request_object.contents is not None
    stored = codecs.BuildRequestObject.from_bcs(request_object.contents)
    assert stored.status == codecs.RequestStatus.CANCELLED and stored.fee_balance == 0


def _requested(result: object) -> codecs.BuildRequested:
    events = result.decoded_events()  # type: ignore[attr-defined]
    assert isinstance(events[0], codecs.BuildRequested)
    return events[0]


async def test_debug_enclave_complete_pays_the_payee_and_forgeries_abort(chain: DevChain) -> None:
    pkg, cap = chain.package, chain.standin.admin_cap_id
    admin = chain.submitter(chain.admin)
    enclave_key = dev_signer("enclave")
    payee = dev_signer("payee").address
    await admin.submit(pkg.set_allow_debug(cap, True))
    await admin.submit(pkg.set_payee(cap, payee))
    registered = await admin.submit(pkg.register_debug_enclave(cap, enclave_key.public_key))
    (event,) = registered.decoded_events()
    assert (
        isinstance(event, codecs.EnclaveRegistered)
        and event.debug
        and event.pk == enclave_key.public_key
    )
    enclave_id = event.enclave_id
    user = chain.submitter(chain.users[0])
    first = _requested(await user.submit(pkg.request_build(SPEC, FEE)))
    second = _requested(await user.submit(pkg.request_build(SPEC, FEE + 5)))
    relayer = chain.submitter(chain.users[1])
    image, log = hashlib.sha256(b"manifest").digest(), hashlib.sha256(b"log").digest()

    def complete(
        request: codecs.BuildRequested,
        signer: SuiSigner,
        signed_for: codecs.BuildRequested,
        ts: int,
    ):  # type: ignore[no-untyped-def]
        payload = BuildSucceededPayload(
            signed_for.request_id, signed_for.spec_digest, image, "idx", log, "log"
        )
        return pkg.complete(
            request.request_id,
            enclave_id,
            image_digest=image,
            image_index_blob_id="idx",
            log_digest=log,
            log_blob_id="log",
            timestamp_ms=ts,
            signature=sign_result(signer, payload, ts),
        )

    ts = second.created_at_ms + 1
    with pytest.raises(TransactionFailed) as info:  # signed by a key that is not the enclave's
        await relayer.submit(complete(first, dev_signer("forger"), first, ts))
    assert (info.value.abort_code, info.value.module) == (12, "builds")  # EInvalidSignature
    with pytest.raises(TransactionFailed) as info:  # a genuine result replayed onto another request
        await relayer.submit(complete(second, enclave_key, first, ts))
    assert info.value.abort_code == 12
    done = await relayer.submit(complete(first, enclave_key, first, ts))
    (succeeded,) = done.decoded_events()
    assert isinstance(succeeded, codecs.BuildSucceeded)
    assert (succeeded.fee_paid, succeeded.payee, succeeded.enclave_id) == (FEE, payee, enclave_id)
    coins = await chain.client.list_gas_coins(payee)
    assert [c.balance for c in coins] == [FEE]
    assert await chain.client.get_balance(payee) == FEE
    with pytest.raises(TransactionFailed) as info:  # and it cannot be completed twice
        await relayer.submit(complete(first, enclave_key, first, ts))
    assert info.value.abort_code == 6  # ENotPending


async def test_objects_and_registry_decode(chain: DevChain) -> None:
    registry = await chain.client.get_object(chain.standin.registry_id)
    assert registry.contents is not None and registry.initial_shared_version == 1
    decoded = RegistryObject.from_bcs(registry.contents)
    assert (decoded.payee, decoded.min_fee, decoded.allow_debug) == (
        chain.admin.address,
        FEE,
        False,
    )
    both = await chain.client.get_objects([chain.standin.registry_id, chain.standin.admin_cap_id])
    assert [o.object_id for o in both] == [chain.standin.registry_id, chain.standin.admin_cap_id]
    assert both[1].owner_address == chain.admin.address
    missing = "0x" + "ab" * 32
    with pytest.raises(ObjectNotFound, match=missing):
        await chain.client.get_object(missing)
    with pytest.raises(ObjectNotFound, match=missing):
        await chain.client.get_objects([chain.standin.registry_id, missing])


async def test_slow_subscriber_is_dropped_and_the_stream_ends() -> None:
    async with dev_chain(checkpoint_interval_s=None, subscriber_buffer=4) as chain:
        received: list[int] = []
        async with contextlib.aclosing(chain.client.subscribe_checkpoints()) as stream:
            received.append((await anext(stream)).sequence_number)
            for _ in range(10):  # faster than the subscriber reads: its 4-slot buffer overflows
                chain.standin.service.publish(chain.standin.node.cut_checkpoint())
            async with asyncio.timeout(5):
                received.extend([c.sequence_number async for c in stream])  # ends, no error
        assert received == [0]
        assert chain.standin.service.subscriber_count == 0
        # A new subscription starts at the tip and never replays.
        async with contextlib.aclosing(chain.client.subscribe_checkpoints()) as stream:
            assert (await anext(stream)).sequence_number == 10


async def test_pruned_checkpoint_is_checkpoint_pruned() -> None:
    async with dev_chain(checkpoint_interval_s=None) as chain:
        for _ in range(5):
            await chain.standin.cut_checkpoint()
        chain.standin.prune_below(3)
        info = await chain.client.service_info()
        assert (info.lowest_available_checkpoint, info.checkpoint_height) == (3, 5)
        with pytest.raises(CheckpointPruned, match="archive_grpc_url"):
            await chain.client.get_checkpoint(1)
        assert (await chain.client.get_checkpoint(3)).sequence_number == 3
        assert (await chain.client.get_checkpoint()).sequence_number == 5
        with pytest.raises(ChainError, match="not on") as error:
            await chain.client.get_checkpoint(9)
        assert not isinstance(error.value, CheckpointPruned)


async def test_unavailable_faults_are_retried(chain: DevChain) -> None:
    chain.standin.set_faults(unavailable_rate=0.4, seed=3)
    before = sum(chain.standin.service.calls.values())
    for _ in range(15):
        assert (await chain.client.service_info()).chain_id == chain.standin.chain_id
    result = await chain.submitter(chain.users[0]).submit(chain.package.request_build(SPEC, FEE))
    assert result.ok
    assert sum(chain.standin.service.calls.values()) - before > 15 + 4  # some calls were retried
    chain.standin.set_faults(unavailable_rate=1.0)
    with pytest.raises(ChainUnavailable, match="UNAVAILABLE"):
        await chain.client.service_info()


async def test_lost_answer_retries_the_same_bytes_without_double_execution(chain: DevChain) -> None:
    user = chain.users[0]
    tx_bytes = await _offline_request_build(chain, user)
    signature = user.sign_transaction(tx_bytes)
    # Every answer is lost after the node executed: the client retries, then reports the doubt.
    chain.standin.set_faults(unavailable_rate=1.0, unavailable_after_execute=True)
    with pytest.raises(OutcomeUnknown) as info:
        await chain.client.execute(tx_bytes, [signature])
    assert info.value.digest == transaction_digest_b58(tx_bytes)
    assert chain.standin.service.calls["ExecuteTransaction"] == FAST_RETRY.attempts
    chain.standin.set_faults(unavailable_rate=0.5, unavailable_after_execute=True, seed=11)
    result = await chain.client.execute(tx_bytes, [signature])  # same bytes: the first result
    chain.standin.set_faults()
    again = await chain.client.execute(tx_bytes, [signature])
    assert result == again and result.ok
    assert result.gas_object is not None
    (coin,) = await chain.client.list_gas_coins(user.address)
    assert coin.ref == result.gas_object  # executed once: the coin moved exactly once
    assert len(await _requests_of(chain, user.address)) == 1


async def _requests_of(chain: DevChain, requester: str) -> list[str]:
    node = chain.standin.node
    return [
        obj.object_id
        for obj in node.objects.values()
        if obj.type_tag.endswith("::builds::BuildRequest")
        and codecs.BuildRequestObject.from_bcs(obj.contents).requester == requester
    ]


async def test_restart_from_the_state_file_keeps_the_chain(tmp_path: Path) -> None:
    state = tmp_path / "sui.db"
    user = dev_signer("restart-user")
    first = SuiStandIn(funded={user.address: 50 * MIST_PER_SUI}, state_file=state, seed="one")
    async with first, SuiClient(first.url, package_id=first.package_id, retry=FAST_RETRY) as client:
        package = DaasPackage(first.package_id, first.registry_id, first.enclave_config_id)
        submitter = TransactionSubmitter(client, user, gas_budget=10**8)
        request = _requested(await submitter.submit(package.request_build(SPEC, FEE)))
        await first.wait_for_checkpoint(first.node.latest_checkpoint.sequence_number + 1)
        before = {
            "chain": first.chain_id,
            "registry": await client.get_object(first.registry_id),
            "request": await client.get_object(request.request_id),
            "coin": (await client.list_gas_coins(user.address))[0],
            "checkpoints": [
                (await client.get_checkpoint(s)).digest
                for s in range(first.node.latest_checkpoint.sequence_number + 1)
            ],
        }
    second = SuiStandIn(state_file=state, seed="ignored-on-restart")
    async with (
        second,
        SuiClient(
            second.url, expected_chain_id=before["chain"], package_id=second.package_id
        ) as client,
    ):
        assert second.package_id == first.package_id
        assert await client.get_object(first.registry_id) == before["registry"]
        assert await client.get_object(request.request_id) == before["request"]
        (coin,) = await client.list_gas_coins(user.address)
        assert coin == before["coin"]
        digests = before["checkpoints"]
        assert [(await client.get_checkpoint(s)).digest for s in range(len(digests))] == digests
        # And the chain goes on: a new transaction spends the same coin from its current version.
        submitter = TransactionSubmitter(client, user, gas_budget=10**8)
        result = await submitter.submit(package.request_build(SPEC, FEE))
        assert result.gas_object is not None and result.gas_object.version > coin.ref.version


async def test_execute_is_idempotent_by_digest(chain: DevChain) -> None:
    user = chain.users[0]
    tx_bytes = await _offline_request_build(chain, user)
    signature = user.sign_transaction(tx_bytes)
    first = await chain.client.execute(tx_bytes, [signature])
    await chain.standin.wait_for_checkpoint(
        chain.standin.node.latest_checkpoint.sequence_number + 1
    )
    second = await chain.client.execute(tx_bytes, [signature])
    assert first.checkpoint is None and second.checkpoint is not None  # known once checkpointed
    assert dataclasses.replace(first, checkpoint=second.checkpoint) == second
    coin_ref = first.gas_object
    assert isinstance(coin_ref, ObjectRef)
    assert (await chain.client.list_gas_coins(user.address))[0].ref == coin_ref


async def test_signature_bytes_may_be_base64_or_raw(chain: DevChain) -> None:
    """pysui accepts signatures as base64 text; raw bytes are passed through unchanged."""
    user = chain.users[0]
    tx_bytes = await _offline_request_build(chain, user)
    raw = base64.b64decode(user.sign_transaction(tx_bytes))
    result = await chain.client.execute(tx_bytes, [base64.b64encode(raw).decode()])
    assert result.ok


async def test_submitter_settles_a_transaction_in_doubt_before_the_next(chain: DevChain) -> None:
    user = chain.users[0]
    submitter = chain.submitter(user)
    await submitter.submit(chain.package.request_build(SPEC, FEE))  # objects, gas and price known
    chain.standin.set_faults(unavailable_rate=1.0, unavailable_after_execute=True)
    with pytest.raises(OutcomeUnknown) as info:
        await submitter.submit(chain.package.request_build(SPEC, FEE))
    assert submitter.in_doubt == info.value.digest
    chain.standin.set_faults()
    settled = await submitter.settle()
    assert settled is not None and settled.ok and settled.digest == info.value.digest
    result = await submitter.submit(chain.package.request_build(SPEC, FEE))
    assert result.ok and len(await _requests_of(chain, user.address)) == 3
