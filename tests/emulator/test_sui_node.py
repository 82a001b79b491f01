"""The Sui stand-in's ledger (`SuiNode`) without networking: versions, gas, coins, rejections, attestation."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pysui.sui.sui_bcs import bcs as pbcs
from pysui.sui.sui_common.txn_transaction_builder import ProgrammableTransactionBuilder

from daas.attestation import testing as nitro_testing
from daas.chain import codecs
from daas.chain.codecs import BuildSpec
from daas.chain.keys import SuiSigner
from daas.chain.transactions import (
    DaasPackage,
    MoveCall,
    SharedInput,
    build_programmable,
    pure_address,
    pure_u64,
    transaction_data,
)
from daas.chain.types import ObjectInfo, ObjectRef, OwnerKind
from emulator.sui.clock import NodeClock
from emulator.sui.effects import IdOperation, TxRecord
from emulator.sui.model import DaasModel
from emulator.sui.nitro import nitro_loader
from emulator.sui.node import GenesisConfig, Rejected, SuiNode
from emulator.sui.objects import COIN_TYPE, Shared
from emulator.sui.oplog import OpLog
from emulator.sui.testing import dev_signer, sign_result
from emulator.sui.types import CLOCK_ID

SUI = 1_000_000_000
FEE = 10_000_000
BUDGET = 100_000_000
SPEC = BuildSpec("blob", hashlib.sha256(b"b").digest(), "Dockerfile", "linux/amd64")
START_MS = nitro_testing.DEFAULT_TIME.timestamp() * 1000


class ManualTime:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class Chain:
    """A node with an admin and two users, and helpers to sign and run transactions."""

    def __init__(self, *, nitro_root: bytes | None = None, oplog: OpLog | None = None) -> None:
        self.time = ManualTime(int(START_MS))
        self.admin, self.alice, self.bob = (dev_signer(n) for n in ("admin", "alice", "bob"))
        self.node = SuiNode(
            DaasModel,
            clock=NodeClock(self.time),
            nitro=nitro_loader(nitro_root) if nitro_root else None,
            on_op=oplog.append if oplog else None,
        )
        self.node.genesis(
            GenesisConfig(
                admin_address=self.admin.address,
                seed="node-tests",
                funded=tuple((s.address, 100 * SUI) for s in (self.admin, self.alice, self.bob)),
            )
        )
        assert self.node.registry_id and self.node.enclave_config_id
        self.package = DaasPackage(
            self.node.package_id, self.node.registry_id, self.node.enclave_config_id
        )

    def info(self, object_id: str) -> ObjectInfo:
        obj = self.node.get_object(object_id)
        assert obj is not None
        shared = obj.initial_shared_version
        return ObjectInfo(
            obj.object_id,
            obj.version,
            obj.digest,
            OwnerKind.SHARED if shared else OwnerKind.ADDRESS,
            initial_shared_version=shared,
        )

    def gas(self, signer: SuiSigner) -> ObjectRef:
        coin = max(self.node.coins(signer.address), key=lambda c: c.balance)
        return ObjectRef(coin.object_id, coin.version, coin.digest)

    def tx_bytes(
        self,
        signer: SuiSigner,
        calls: Sequence[MoveCall] = (),
        *,
        kind: Any = None,
        budget: int = BUDGET,
        price: int = 1000,
        gas: Sequence[ObjectRef] | None = None,
    ) -> bytes:
        if kind is None:
            ids = {a.object_id for c in calls for a in c.args if hasattr(a, "object_id")}
            objects = {i: self.info(i) for i in ids if i != CLOCK_ID}
            kind = build_programmable(calls, objects)
        return transaction_data(
            kind,
            sender=signer.address,
            gas=list(gas) if gas is not None else [self.gas(signer)],
            gas_price=price,
            gas_budget=budget,
        )

    def run(self, signer: SuiSigner, *calls: MoveCall, **kwargs: Any) -> TxRecord:
        tx_bytes = self.tx_bytes(signer, calls, **kwargs)
        return self.node.execute(tx_bytes, [base64.b64decode(signer.sign_transaction(tx_bytes))])

    def run_kind(self, signer: SuiSigner, kind: Any, **kwargs: Any) -> TxRecord:
        tx_bytes = self.tx_bytes(signer, kind=kind, **kwargs)
        return self.node.execute(tx_bytes, [base64.b64decode(signer.sign_transaction(tx_bytes))])


def _decoded(record: TxRecord) -> list[Any]:
    return [
        codecs.decode_event(*e.event_type.split("::")[1:], e.contents)  # type: ignore[call-arg]
        for e in record.events
    ]


def _balance(chain: Chain, signer: SuiSigner) -> int:
    return sum(c.balance for c in chain.node.coins(signer.address))


def test_genesis_is_checkpoint_zero_named_by_the_chain_id() -> None:
    chain = Chain()
    genesis = chain.node.checkpoint(0)
    assert genesis is not None and genesis.digest == chain.node.chain_id
    (record,) = (chain.node.transactions[d] for d in genesis.transactions)
    assert [type(e) for e in _decoded(record)] == [codecs.RegistryUpdated]
    created = {c.object_id for c in record.changes if c.id_operation is IdOperation.CREATED}
    assert {chain.node.package_id, CLOCK_ID, chain.node.registry_id} <= created
    assert chain.node.package_id == Chain().node.package_id  # the seed decides every id


def test_versions_follow_lamport_and_shared_objects_keep_their_start() -> None:
    chain = Chain()
    gas = chain.gas(chain.alice)
    registry_before = chain.node.get_object(chain.package.registry_id)
    record = chain.run(chain.alice, chain.package.request_build(SPEC, FEE))
    assert record.ok
    clock = chain.node.get_object(CLOCK_ID)
    assert clock is not None and registry_before is not None
    assert record.lamport_version == max(gas.version, registry_before.version, clock.version) + 1
    (requested,) = _decoded(record)
    request = chain.node.get_object(requested.request_id)
    assert request is not None and request.owner == Shared(record.lamport_version)
    # The registry was only read: unchanged, and recorded as such.
    assert chain.node.get_object(chain.package.registry_id) == registry_before
    assert {u.object_id for u in record.unchanged_shared} == {chain.package.registry_id, CLOCK_ID}
    # A later write keeps the initial shared version and takes a new Lamport version.
    chain.time.ms += 3_600_001
    cancel = chain.run(chain.alice, chain.package.cancel(requested.request_id))
    after = chain.node.get_object(requested.request_id)
    assert cancel.ok and after is not None
    assert after.owner == Shared(record.lamport_version) and after.version == cancel.lamport_version
    assert [c.object_id for c in cancel.changes] == sorted(c.object_id for c in cancel.changes)


def test_failed_transaction_charges_gas_and_bumps_mutable_inputs() -> None:
    chain = Chain()
    requested = _decoded(chain.run(chain.alice, chain.package.request_build(SPEC, FEE)))[0]
    request_before = chain.node.get_object(requested.request_id)
    balance = _balance(chain, chain.alice)
    record = chain.run(chain.alice, chain.package.cancel(requested.request_id))
    failure = record.failure
    assert failure is not None and failure.kind == "MOVE_ABORT" and failure.abort_code == 8
    assert failure.abort is not None and failure.abort.module == "builds" and not record.events
    assert record.gas is not None and _balance(chain, chain.alice) == balance - record.gas.net
    request_after = chain.node.get_object(requested.request_id)
    assert request_before is not None and request_after is not None
    assert request_after.version == record.lamport_version > request_before.version
    assert request_after.contents == request_before.contents  # written back unchanged
    model = chain.node.model.get(requested.request_id)
    assert model is not None and model.contents == request_before.contents


def test_coin_commands_split_merge_transfer() -> None:
    chain = Chain()
    ptb = ProgrammableTransactionBuilder()
    amount = ptb.input_pure(pbcs.BuilderArg("Pure", list(pure_u64(7 * SUI).data)))
    coin = ptb.command(
        pbcs.Command("SplitCoin", pbcs.SplitCoin(pbcs.Argument("GasCoin", None), [amount]))
    )
    recipient = ptb.input_pure(pbcs.BuilderArg("Pure", list(pure_address(chain.bob.address).data)))
    ptb.command(pbcs.Command("TransferObjects", pbcs.TransferObjects([coin], recipient)))
    bob_before = _balance(chain, chain.bob)
    record = chain.run_kind(chain.alice, ptb.finish_for_inspect())
    assert record.ok and _balance(chain, chain.bob) == bob_before + 7 * SUI
    assert record.balance_changes()[chain.bob.address] == 7 * SUI
    # Bob merges his two coins into one.
    first, second = chain.node.coins(chain.bob.address)
    ptb = ProgrammableTransactionBuilder()
    source = ptb.input_obj_from_objarg(
        pbcs.ObjectArg(
            "ImmOrOwnedObject",
            pbcs.ObjectReference(
                pbcs.Address.from_str(second.object_id),
                second.version,
                pbcs.Digest.from_str(second.digest),
            ),
        )
    )
    ptb.command(
        pbcs.Command("MergeCoins", pbcs.MergeCoins(pbcs.Argument("GasCoin", None), [source]))
    )
    merged = chain.run_kind(
        chain.bob,
        ptb.finish_for_inspect(),
        gas=[ObjectRef(first.object_id, first.version, first.digest)],
    )
    assert merged.ok and len(chain.node.coins(chain.bob.address)) == 1
    assert any(c.id_operation is IdOperation.DELETED for c in merged.changes)
    # A coin split off and left unused fails the transaction.
    ptb = ProgrammableTransactionBuilder()
    amount = ptb.input_pure(pbcs.BuilderArg("Pure", list(pure_u64(1).data)))
    ptb.command(pbcs.Command("SplitCoin", pbcs.SplitCoin(pbcs.Argument("GasCoin", None), [amount])))
    unused = chain.run_kind(chain.alice, ptb.finish_for_inspect())
    assert unused.failure is not None and unused.failure.kind == "UNUSED_VALUE_WITHOUT_DROP"


def test_splitting_more_than_the_gas_coin_holds_beyond_the_budget_fails() -> None:
    chain = Chain()
    record = chain.run(chain.alice, chain.package.request_build(SPEC, 100 * SUI - BUDGET + 1))
    assert record.failure is not None and record.failure.kind == "INSUFFICIENT_COIN_BALANCE"


def test_insufficient_gas_charges_the_budget() -> None:
    chain = Chain()
    balance = _balance(chain, chain.alice)
    record = chain.run(chain.alice, chain.package.request_build(SPEC, FEE), budget=1_000_000)
    assert record.failure is not None and record.failure.kind == "INSUFFICIENT_GAS"
    assert record.gas is not None and record.gas.computation + record.gas.storage == 1_000_000
    assert _balance(chain, chain.alice) == balance - record.gas.net
    assert chain.node.model.objects() == Chain().node.model.objects()  # nothing was created


def test_rejections_before_execution() -> None:
    chain = Chain()
    call = chain.package.request_build(SPEC, FEE)
    gas = chain.gas(chain.alice)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"price": 999}, "below the reference gas price"),
        ({"budget": 999_999}, "outside"),
        ({"budget": 60_000_000_000}, "outside"),
        ({"gas": [ObjectRef(gas.object_id, gas.version + 1, gas.digest)]}, "not available"),
        ({"gas": [chain.gas(chain.bob)]}, "not owned by"),
        ({"gas": []}, "no gas coin"),
    ]
    for kwargs, message in cases:
        with pytest.raises(Rejected, match=message):
            chain.run(chain.alice, call, **kwargs)
    with pytest.raises(Rejected, match="below the gas budget"):
        poor = dev_signer("poor")
        chain.node.fund(poor.address, 10_000)
        chain.run(poor, call, budget=1_000_000)
    wrong_start = {
        chain.package.registry_id: ObjectInfo(
            chain.package.registry_id, 1, "x", OwnerKind.SHARED, initial_shared_version=2
        )
    }
    with pytest.raises(Rejected, match="was shared at version 1, not 2"):
        chain.run_kind(chain.alice, build_programmable([call], wrong_start))
    with pytest.raises(Rejected, match="does not exist"):
        chain.run(chain.alice, MoveCall("0x" + "77" * 32, "m", "f", ()))
    mutable_clock = MoveCall(
        chain.package.package_id, "builds", "cancel", (SharedInput(CLOCK_ID, mutable=True),)
    )
    with pytest.raises(Rejected, match="only be passed immutably"):
        chain.run_kind(chain.alice, build_programmable([mutable_clock], {}))
    with pytest.raises(Rejected, match="only programmable"):
        _execute_genesis_kind(chain)
    assert chain.gas(chain.alice) == gas  # nothing moved


def _execute_genesis_kind(chain: Chain) -> None:
    data = pbcs.TransactionData(
        "V1",
        pbcs.TransactionDataV1(
            pbcs.TransactionKind("Genesis", None),
            pbcs.Address.from_str(chain.alice.address),
            pbcs.GasData([], pbcs.Address.from_str(chain.alice.address), 1000, BUDGET),
            pbcs.TransactionExpiration("None", None),
        ),
    ).serialize()
    chain.node.execute(data, [base64.b64decode(chain.alice.sign_transaction(data))])


def test_idempotent_by_digest_and_replay_from_the_op_log(tmp_path: Path) -> None:
    log = OpLog(tmp_path / "state.db")
    chain = Chain(oplog=log)
    tx_bytes = chain.tx_bytes(chain.alice, [chain.package.request_build(SPEC, FEE)])
    signature = base64.b64decode(chain.alice.sign_transaction(tx_bytes))
    first = chain.node.execute(tx_bytes, [signature])
    assert chain.node.execute(tx_bytes, [signature]) is first
    chain.node.cut_checkpoint()
    chain.node.fund(chain.bob.address, 5)
    chain.time.ms += 10
    chain.node.cut_checkpoint()
    chain.node.prune_below(1)
    log.close()
    replayed_log = OpLog(tmp_path / "state.db")
    replayed = SuiNode(DaasModel, clock=NodeClock(ManualTime(0)))
    for kind, body in replayed_log.read():
        replayed.replay(kind, body)
    assert replayed.objects == chain.node.objects
    assert replayed.checkpoints == chain.node.checkpoints
    assert replayed.lowest_available_checkpoint == 1
    assert replayed.clock.now_ms() >= chain.node.latest_checkpoint.timestamp_ms
    assert replayed.transactions.keys() == chain.node.transactions.keys()


def test_debug_enclave_result_pays_out_a_coin() -> None:
    chain = Chain()
    cap = chain.node.admin_cap_id
    assert cap is not None
    enclave = dev_signer("enclave")
    assert chain.run(chain.admin, chain.package.set_allow_debug(cap, True)).ok
    registered = chain.run(
        chain.admin, chain.package.register_debug_enclave(cap, enclave.public_key)
    )
    (event,) = _decoded(registered)
    requested = _decoded(chain.run(chain.alice, chain.package.request_build(SPEC, FEE)))[0]
    payload = codecs.BuildFailedPayload(
        requested.request_id, requested.spec_digest, 201, bytes(32), "log"
    )
    ts = requested.created_at_ms
    failed = chain.run(
        chain.bob,
        chain.package.fail(
            requested.request_id,
            event.enclave_id,
            error_code=201,
            log_digest=bytes(32),
            log_blob_id="log",
            timestamp_ms=ts,
            signature=sign_result(enclave, payload, ts),
        ),
    )
    assert failed.ok, failed.failure
    (result,) = _decoded(failed)
    assert (result.refunded, result.fee_paid) == (FEE, 0)
    refund = [
        c
        for c in failed.changes
        if c.object_type == COIN_TYPE and c.id_operation is IdOperation.CREATED
    ]
    assert len(refund) == 1 and refund[0].output is not None
    assert refund[0].output.balance == FEE
    assert failed.balance_changes()[chain.alice.address] == FEE


def _nitro_chain(document: nitro_testing.SyntheticDocument) -> tuple[Chain, str]:
    chain = Chain(nitro_root=document.root_der)
    chain.time.ms = document.timestamp_ms + 1_000
    cap = chain.node.admin_cap_id
    assert cap is not None
    pcrs = nitro_testing.default_pcrs()
    record = chain.run(chain.admin, chain.package.update_pcrs(cap, pcrs[0], pcrs[1], pcrs[2]))
    assert record.ok, record.failure
    return chain, cap


def test_register_enclave_with_a_synthetic_attestation() -> None:
    document = nitro_testing.make_document(timestamp_ms=int(START_MS))
    chain, _ = _nitro_chain(document)
    record = chain.run(chain.bob, chain.package.register_enclave(document.raw))
    assert record.ok, record.failure
    (event,) = _decoded(record)
    assert isinstance(event, codecs.EnclaveRegistered)
    assert (event.pk, event.debug, event.owner) == (
        nitro_testing.TEST_PUBLIC_KEY,
        False,
        chain.bob.address,
    )
    assert event.attestation_timestamp_ms == document.timestamp_ms
    assert record.events[0].module == "enclave"


@pytest.mark.parametrize(
    ("breakage", "code"),
    [("other-root", 2), ("garbage", 1), ("expired", 2)],
)
def test_load_nitro_attestation_aborts_like_the_native(breakage: str, code: int) -> None:
    document = nitro_testing.make_document(timestamp_ms=int(START_MS))
    chain, _ = _nitro_chain(document)
    raw = document.raw
    if breakage == "other-root":
        raw = nitro_testing.make_document(timestamp_ms=int(START_MS)).raw
    elif breakage == "garbage":
        raw = b"not a COSE document"
    else:
        chain.time.ms += 4 * 3600 * 1000  # past the 3-hour leaf certificate
    record = chain.run(chain.bob, chain.package.register_enclave(raw))
    assert record.failure is not None and record.failure.kind == "MOVE_ABORT"
    assert record.failure.abort_code == code and record.failure.command == 0
    assert record.failure.abort is not None
    assert (record.failure.abort.module, record.failure.abort.function) == (
        "nitro_attestation",
        "load_nitro_attestation_internal",
    )


def test_without_a_verifier_load_nitro_attestation_is_not_supported() -> None:
    chain = Chain()
    record = chain.run(chain.bob, chain.package.register_enclave(b"doc"))
    assert record.failure is not None and record.failure.kind == "FEATURE_NOT_YET_SUPPORTED"


def test_clock_is_monotonic_and_advances() -> None:
    times = ManualTime(1_000)
    clock = NodeClock(times)
    assert clock.now_ms() == 1_000
    times.ms = 500  # the source went back: the clock does not
    assert clock.now_ms() == 1_000
    assert clock.advance(2_000) == 2_500
    clock.not_before(10_000)
    assert clock.now_ms() == 10_000
    with pytest.raises(ValueError):
        clock.advance(-1)
