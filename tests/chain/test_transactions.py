"""Offline transaction building: exact pure bytes, object inputs, both register_enclave commands, gas tracking."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from pysui.sui.sui_bcs import bcs as pbcs

from daas.chain.codecs import BuildSpec
from daas.chain.hashing import b58encode, transaction_digest_b58
from daas.chain.keys import SuiSigner
from daas.chain.transactions import (
    CLOCK_ID,
    DaasPackage,
    GasTracker,
    TransactionSubmitter,
    build_programmable,
    pure_bytes,
    pure_u64,
    transaction_data,
)
from daas.chain.types import (
    ChainEvent,
    Coin,
    ExecutionResult,
    MoveAbortInfo,
    ObjectInfo,
    ObjectRef,
    OwnerKind,
)
from daas.config import ChainSettings
from daas.errors import ConfigError, OutcomeUnknown, TransactionFailed, TransactionRejected

PKG = "0x" + "11" * 32
REGISTRY = "0x" + "22" * 32
CONFIG = "0x" + "33" * 32
CAP = "0x" + "44" * 32
REQUEST = "0x" + "55" * 32
ENCLAVE = "0x" + "66" * 32
SENDER = SuiSigner.from_seed(bytes(32)).address
DIGEST = b58encode(bytes(range(32)))
GAS = ObjectRef("0x" + "99" * 32, 7, DIGEST)
SPEC = BuildSpec("blob-1", hashlib.sha256(b"bundle").digest(), "Dockerfile", "linux/amd64")
PACKAGE = DaasPackage(PKG, REGISTRY, CONFIG)


def shared(object_id: str, version: int) -> ObjectInfo:
    return ObjectInfo(
        object_id, version + 3, DIGEST, OwnerKind.SHARED, initial_shared_version=version
    )


def owned(object_id: str, version: int) -> ObjectInfo:
    return ObjectInfo(object_id, version, DIGEST, OwnerKind.ADDRESS, owner_address=SENDER)


OBJECTS = {
    REGISTRY: shared(REGISTRY, 5),
    CONFIG: shared(CONFIG, 6),
    REQUEST: shared(REQUEST, 40),
    ENCLAVE: shared(ENCLAVE, 41),
    CAP: owned(CAP, 12),
}


def decode(tx_bytes: bytes) -> Any:
    return pbcs.TransactionData.deserialize(tx_bytes).value


def inputs_and_commands(kind: Any) -> tuple[list[Any], list[Any]]:
    ptb = kind.value
    return list(ptb.Inputs), list(ptb.Command)


def arguments(command: Any) -> list[tuple[str, Any]]:
    return [(a.enum_name, a.value) for a in command.value.Arguments]


def test_request_build_bytes() -> None:
    kind = build_programmable([PACKAGE.request_build(SPEC, 10_000_000)], OBJECTS)
    tx_bytes = transaction_data(kind, sender=SENDER, gas=[GAS], gas_price=1000, gas_budget=10**8)
    data = decode(tx_bytes)
    assert data.Sender.to_address_str() == SENDER
    gas = data.GasData
    assert (gas.Price, gas.Budget, gas.Payment[0].SequenceNumber) == (1000, 10**8, 7)
    assert bytes(gas.Payment[0].ObjectDigest.Digest) == bytes(range(32))
    inputs, commands = inputs_and_commands(data.TransactionKind)
    assert [c.enum_name for c in commands] == ["SplitCoin", "MoveCall"]
    split = commands[0].value
    assert split.FromCoin.enum_name == "GasCoin"
    fee_input = inputs[split.Amount[0].value]
    assert bytes(fee_input.value) == (10_000_000).to_bytes(8, "little")
    call = commands[1].value
    assert (call.Package.to_address_str(), call.Module, call.Function) == (
        PKG,
        "builds",
        "request_build",
    )
    args = arguments(commands[1])
    assert args[5] == ("Result", 0)  # the coin split off the gas coin
    registry = inputs[args[0][1]].value.value
    assert (registry.ObjectID.to_address_str(), registry.SequenceNumber, registry.Mutable) == (
        REGISTRY,
        5,
        False,
    )
    clock = inputs[args[6][1]].value.value
    assert (clock.ObjectID.to_address_str(), clock.SequenceNumber, clock.Mutable) == (
        CLOCK_ID,
        1,
        False,
    )
    pure = [bytes(inputs[i].value) for _, i in args[1:5]]
    assert pure == [
        b"\x06blob-1",
        b"\x20" + SPEC.source_sha256,
        b"\x0aDockerfile",
        b"\x0blinux/amd64",
    ]
    # Deterministic: the same call gives the same bytes, hence the same digest.
    again = transaction_data(
        build_programmable([PACKAGE.request_build(SPEC, 10_000_000)], OBJECTS),
        sender=SENDER,
        gas=[GAS],
        gas_price=1000,
        gas_budget=10**8,
    )
    assert again == tx_bytes and len(transaction_digest_b58(tx_bytes)) in (43, 44)


def test_pure_values_keep_width_and_zeros() -> None:
    """pysui's PureInput would give [] for 0, [5] for 5 and drop list zeros; ours do not."""
    assert pure_u64(0).data == bytes(8)
    assert pure_u64(5).data == b"\x05" + bytes(7)
    assert pure_bytes(b"\x00\x07").data == b"\x02\x00\x07"
    kind = build_programmable([PACKAGE.set_min_fee(CAP, 0)], OBJECTS)
    inputs, _ = inputs_and_commands(kind)
    assert bytes(inputs[2].value) == bytes(8)


def test_complete_and_fail_name_each_object_once() -> None:
    call = PACKAGE.complete(
        REQUEST,
        ENCLAVE,
        image_digest=bytes(32),
        image_index_blob_id="idx",
        log_digest=bytes(32),
        log_blob_id="log",
        timestamp_ms=1,
        signature=bytes(64),
    )
    kind = build_programmable([call, call], OBJECTS)  # two calls share their object inputs
    inputs, commands = inputs_and_commands(kind)
    object_ids = [
        i.value.value.ObjectID.to_address_str() for i in inputs if i.enum_name == "Object"
    ]
    assert sorted(object_ids) == sorted({REGISTRY, REQUEST, CONFIG, ENCLAVE, CLOCK_ID})
    request = next(
        i.value.value for i in inputs if i.enum_name == "Object" and i.value.value.Mutable
    )
    assert request.ObjectID.to_address_str() == REQUEST and request.SequenceNumber == 40
    assert len(commands) == 2
    fail = build_programmable(
        [
            PACKAGE.fail(
                REQUEST,
                ENCLAVE,
                error_code=201,
                log_digest=bytes(32),
                log_blob_id="",
                timestamp_ms=1,
                signature=bytes(64),
            )
        ],
        OBJECTS,
    )
    inputs, commands = inputs_and_commands(fail)
    assert bytes(inputs[arguments(commands[0])[4][1]].value) == (201).to_bytes(2, "little")


def test_admin_calls_use_the_current_admin_cap_reference() -> None:
    kind = build_programmable([PACKAGE.register_debug_enclave(CAP, b"\x01" * 32)], OBJECTS)
    inputs, commands = inputs_and_commands(kind)
    cap = next(
        i.value
        for i in inputs
        if i.enum_name == "Object" and i.value.enum_name == "ImmOrOwnedObject"
    )
    assert cap.value.ObjectID.to_address_str() == CAP and cap.value.SequenceNumber == 12
    assert commands[0].value.Function == "register_debug_enclave"
    setter = build_programmable([PACKAGE.set_paused(CAP, True)], OBJECTS)
    inputs, _ = inputs_and_commands(setter)
    assert inputs[0].value.value.Mutable is True  # &mut Registry
    assert bytes(inputs[2].value) == b"\x01"


def test_register_enclave_is_two_commands() -> None:
    document = b"\xd2cose-bytes"
    kind = build_programmable([PACKAGE.register_enclave(document)], OBJECTS)
    inputs, commands = inputs_and_commands(kind)
    load, register = (c.value for c in commands)
    assert (load.Package.to_address_str(), load.Module, load.Function) == (
        "0x" + "0" * 63 + "2",
        "nitro_attestation",
        "load_nitro_attestation",
    )
    assert bytes(inputs[load.Arguments[0].value].value) == bytes([len(document)]) + document
    assert inputs[load.Arguments[1].value].value.value.ObjectID.to_address_str() == CLOCK_ID
    assert (register.Module, register.Function) == ("enclave", "register_enclave")
    assert [(a.enum_name, a.value) for a in register.Arguments][1] == ("Result", 0)


def test_package_from_settings() -> None:
    with pytest.raises(ConfigError, match=r"chain\.package_id") as info:
        DaasPackage.from_settings(ChainSettings(registry_id=REGISTRY))
    assert info.value.setting == "chain.package_id"
    package = DaasPackage.from_settings(
        ChainSettings(package_id="0x11", registry_id=REGISTRY, enclave_config_id=CONFIG)
    )
    assert package.package_id == "0x" + "0" * 62 + "11"


class FakeWriter:
    """A `ChainWriter` that records calls and answers from canned values."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectInfo] = dict(OBJECTS)
        self.coins = [Coin(GAS, 5 * 10**9), Coin(ObjectRef("0x" + "98" * 32, 1, DIGEST), 10)]
        self.fetched: list[list[str]] = []
        self.executed: list[bytes] = []
        self.next: ExecutionResult | Exception | None = None

    async def execute(self, tx_bytes: bytes, signatures: Sequence[str]) -> ExecutionResult:
        self.executed.append(tx_bytes)
        if isinstance(self.next, Exception):
            raise self.next
        assert self.next is not None
        return self.next

    async def reference_gas_price(self) -> int:
        return 1000

    async def get_object(self, object_id: str) -> ObjectInfo:
        if object_id == GAS.object_id:
            return ObjectInfo(GAS.object_id, 99, DIGEST, OwnerKind.ADDRESS)
        return self.objects[object_id]

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectInfo]:
        self.fetched.append(list(object_ids))
        return [self.objects[i] for i in object_ids]

    async def list_gas_coins(self, owner: str) -> list[Coin]:
        return self.coins

    async def get_balance(self, owner: str) -> int:
        return sum(c.balance for c in self.coins)


async def _submit_flow() -> None:
    writer = FakeWriter()
    signer = SuiSigner.from_seed(bytes(32))
    submitter = TransactionSubmitter(writer, signer, gas_budget=10**8)
    new_gas = ObjectRef(GAS.object_id, 8, b58encode(b"\x01" * 32))
    event = ChainEvent(f"{PKG}::builds::BuildRequested", b"", 0)
    writer.next = ExecutionResult(digest="D1", ok=True, gas_object=new_gas, events=(event,))
    await submitter.submit(PACKAGE.request_build(SPEC, 10_000_000))
    assert submitter.gas.owner == SENDER and (await submitter.gas.current()) == new_gas
    # Shared objects' initial versions are cached; owned ones (the AdminCap) are read every time.
    await submitter.submit(PACKAGE.set_paused(CAP, True))
    await submitter.submit(PACKAGE.set_paused(CAP, False))
    assert writer.fetched == [[REGISTRY], [CAP], [CAP]]
    assert decode(writer.executed[1]).GasData.Payment[0].SequenceNumber == 8
    writer.next = ExecutionResult(
        digest="D2",
        ok=False,
        error_kind="MOVE_ABORT",
        abort=MoveAbortInfo(PKG, "builds", "request_build", 3),
        gas_object=ObjectRef(GAS.object_id, 9, DIGEST),
    )
    with pytest.raises(TransactionFailed) as info:
        await submitter.submit(PACKAGE.request_build(SPEC, 1))
    assert (info.value.abort_code, info.value.module, info.value.digest) == (3, "builds", "D2")
    assert (await submitter.gas.current()).version == 9  # a failed transaction still moves the coin
    writer.next = OutcomeUnknown("lost", digest="D3")
    with pytest.raises(OutcomeUnknown):
        await submitter.submit(PACKAGE.request_build(SPEC, 10_000_000))
    doubtful = writer.executed[-1]
    assert submitter.in_doubt == transaction_digest_b58(doubtful)
    # Before building anything new, the bytes in doubt are resubmitted to learn their outcome.
    settled_gas = ObjectRef(GAS.object_id, 10, DIGEST)
    writer.next = ExecutionResult(digest="D3", ok=True, gas_object=settled_gas)
    await submitter.submit(PACKAGE.set_paused(CAP, True))
    assert writer.executed[-2] == doubtful and submitter.in_doubt is None
    assert decode(writer.executed[-1]).GasData.Payment[0].SequenceNumber == 10
    writer.next = OutcomeUnknown("lost", digest="D4")
    with pytest.raises(OutcomeUnknown):
        await submitter.submit(PACKAGE.request_build(SPEC, 10_000_000))
    assert (await submitter.gas.current()).version == 99  # re-read after an unknown outcome
    writer.next = TransactionRejected("stale", digest="D4")
    with pytest.raises(TransactionRejected):
        await submitter.settle()
    assert submitter.in_doubt is None and await submitter.settle() is None


@pytest.mark.anyio
async def test_submitter_tracks_gas_and_raises_on_abort() -> None:
    await _submit_flow()


@pytest.mark.anyio
async def test_gas_tracker_adopts_the_richest_coin() -> None:
    writer = FakeWriter()
    tracker = GasTracker(writer, SENDER)
    assert await tracker.current() == GAS
    tracker.observe(ExecutionResult(digest="x", ok=True, gas_object=ObjectRef("0xother", 1, "d")))
    assert await tracker.current() == GAS  # another coin's effects do not move ours
    writer.coins = []
    with pytest.raises(Exception, match="owns no SUI coins"):
        await GasTracker(writer, SENDER).current()
