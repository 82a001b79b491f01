"""Transactions for the `daas` package, built offline, signed, and submitted with gas-coin tracking.

Three layers:

- `MoveCall` values describe one call of our package: target and arguments (pure BCS bytes, shared or owned
  objects by id, a coin split from the gas coin, a Nitro document loaded in the same transaction). One
  builder function per Move function (`request_build`, `complete`, the admin setters...).
- `build_programmable` + `transaction_data` turn calls into `bcs(TransactionData)` with pysui's BCS
  classes, given the objects' current references. Pure arguments are encoded with our own codecs
  (`daas.chain.bcs`), never with pysui's `PureInput`, which picks the narrowest width for ints and drops
  zeros from lists.
- `TransactionSubmitter.submit(*calls)` resolves objects, builds, signs, executes and raises
  `TransactionFailed` on a Move abort. A `GasTracker` keeps the gas coin reference current from each
  transaction's effects (its version and digest change after every transaction) and re-reads it after a
  rejection or an unknown outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pysui.sui.sui_bcs import bcs as pbcs
from pysui.sui.sui_common.txn_transaction_builder import ProgrammableTransactionBuilder

from daas.chain import bcs
from daas.chain.codecs import MODULE_BUILDS, MODULE_ENCLAVE, BuildSpec
from daas.chain.hashing import transaction_digest_b58
from daas.chain.keys import SuiSigner
from daas.chain.ports import ChainWriter
from daas.chain.types import ExecutionResult, ObjectInfo, ObjectRef
from daas.config import ChainSettings
from daas.errors import (
    ChainError,
    ConfigError,
    ObjectNotFound,
    OutcomeUnknown,
    TransactionFailed,
    TransactionRejected,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOCK_ID = "0x" + "0" * 63 + "6"
CLOCK_INITIAL_SHARED_VERSION = 1  # the Clock is created at genesis on every network
SUI_FRAMEWORK = "0x" + "0" * 63 + "2"
NITRO_MODULE = "nitro_attestation"
NITRO_LOAD = "load_nitro_attestation"


# --- call descriptions ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pure:
    """A pure argument: its exact BCS bytes."""

    data: bytes


@dataclasses.dataclass(frozen=True)
class SharedInput:
    """A shared object, by `&` (mutable=False) or `&mut`/by value (mutable=True)."""

    object_id: str
    mutable: bool


@dataclasses.dataclass(frozen=True)
class OwnedInput:
    """An object owned by the sender (e.g. the `AdminCap`); its current reference is looked up."""

    object_id: str


@dataclasses.dataclass(frozen=True)
class GasSplit:
    """`SplitCoins(GasCoin, [amount])`: a new `Coin<SUI>` paid from the gas coin."""

    amount: int


@dataclasses.dataclass(frozen=True)
class NitroLoad:
    """`0x2::nitro_attestation::load_nitro_attestation(document, &Clock)` run first in the same transaction."""

    document: bytes


CallArg = Pure | SharedInput | OwnedInput | GasSplit | NitroLoad

CLOCK = SharedInput(CLOCK_ID, mutable=False)


@dataclasses.dataclass(frozen=True)
class MoveCall:
    package_id: str
    module: str
    function: str
    args: tuple[CallArg, ...]

    @property
    def target(self) -> str:
        return f"{self.package_id}::{self.module}::{self.function}"


def _encode(codec: bcs.Codec[T], value: T) -> Pure:
    out = bytearray()
    codec.encode(value, out)
    return Pure(bytes(out))


def pure_u16(value: int) -> Pure:
    return _encode(bcs.U16, value)


def pure_u64(value: int) -> Pure:
    return _encode(bcs.U64, value)


def pure_bool(value: bool) -> Pure:
    return _encode(bcs.Bool, value)


def pure_bytes(value: bytes) -> Pure:
    """`vector<u8>`."""
    return _encode(bcs.Bytes, value)


def pure_string(value: str) -> Pure:
    return _encode(bcs.String, value)


def pure_address(value: str) -> Pure:
    """`address` or `ID`: 32 raw bytes."""
    return _encode(bcs.Address, value)


# --- our package's functions ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DaasPackage:
    """Where our package and its two singleton shared objects live on a network."""

    package_id: str
    registry_id: str
    enclave_config_id: str

    def __post_init__(self) -> None:
        for name in ("package_id", "registry_id", "enclave_config_id"):
            object.__setattr__(self, name, bcs.normalize_address(getattr(self, name)))

    @classmethod
    def from_settings(cls, chain: ChainSettings) -> DaasPackage:
        missing = [
            f"chain.{name}"
            for name in ("package_id", "registry_id", "enclave_config_id")
            if getattr(chain, name) is None
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set: the ids of the deployed daas package are needed",
                setting=missing[0],
            )
        assert chain.package_id and chain.registry_id and chain.enclave_config_id
        return cls(chain.package_id, chain.registry_id, chain.enclave_config_id)

    def _call(self, module: str, function: str, *args: CallArg) -> MoveCall:
        return MoveCall(self.package_id, module, function, args)

    @property
    def registry(self) -> SharedInput:
        return SharedInput(self.registry_id, mutable=False)

    @property
    def registry_mut(self) -> SharedInput:
        return SharedInput(self.registry_id, mutable=True)

    @property
    def config(self) -> SharedInput:
        return SharedInput(self.enclave_config_id, mutable=False)

    # user calls

    def request_build(self, spec: BuildSpec, fee: int) -> MoveCall:
        """`builds::request_build(&Registry, String, vector<u8>, String, String, Coin<SUI>, &Clock)`."""
        return self._call(
            MODULE_BUILDS,
            "request_build",
            self.registry,
            pure_string(spec.source_blob_id),
            pure_bytes(spec.source_sha256),
            pure_string(spec.dockerfile_path),
            pure_string(spec.platform),
            GasSplit(fee),
            CLOCK,
        )

    def cancel(self, request_id: str) -> MoveCall:
        return self._call(MODULE_BUILDS, "cancel", SharedInput(request_id, mutable=True), CLOCK)

    def complete(
        self,
        request_id: str,
        enclave_id: str,
        *,
        image_digest: bytes,
        image_index_blob_id: str,
        log_digest: bytes,
        log_blob_id: str,
        timestamp_ms: int,
        signature: bytes,
    ) -> MoveCall:
        return self._call(
            MODULE_BUILDS,
            "complete",
            self.registry,
            SharedInput(request_id, mutable=True),
            self.config,
            SharedInput(enclave_id, mutable=False),
            pure_bytes(image_digest),
            pure_string(image_index_blob_id),
            pure_bytes(log_digest),
            pure_string(log_blob_id),
            pure_u64(timestamp_ms),
            pure_bytes(signature),
            CLOCK,
        )

    def fail(
        self,
        request_id: str,
        enclave_id: str,
        *,
        error_code: int,
        log_digest: bytes,
        log_blob_id: str,
        timestamp_ms: int,
        signature: bytes,
    ) -> MoveCall:
        return self._call(
            MODULE_BUILDS,
            "fail",
            self.registry,
            SharedInput(request_id, mutable=True),
            self.config,
            SharedInput(enclave_id, mutable=False),
            pure_u16(error_code),
            pure_bytes(log_digest),
            pure_string(log_blob_id),
            pure_u64(timestamp_ms),
            pure_bytes(signature),
            CLOCK,
        )

    def register_enclave(self, attestation: bytes) -> MoveCall:
        """Two commands: load the document natively, then `enclave::register_enclave(&config, doc, bytes)`."""
        return self._call(
            MODULE_ENCLAVE,
            "register_enclave",
            self.config,
            NitroLoad(attestation),
            pure_bytes(attestation),
        )

    def destroy_stale(self, enclave_id: str) -> MoveCall:
        return self._call(
            MODULE_ENCLAVE, "destroy_stale", SharedInput(enclave_id, mutable=True), self.config
        )

    # admin calls (the AdminCap is owned by the admin, so its reference is looked up at submit time)

    def register_debug_enclave(self, admin_cap_id: str, pk: bytes) -> MoveCall:
        return self._call(
            MODULE_BUILDS,
            "register_debug_enclave",
            self.registry,
            OwnedInput(admin_cap_id),
            self.config,
            pure_bytes(pk),
        )

    def update_pcrs(self, admin_cap_id: str, pcr0: bytes, pcr1: bytes, pcr2: bytes) -> MoveCall:
        return self._call(
            MODULE_BUILDS,
            "update_pcrs",
            self.registry,
            OwnedInput(admin_cap_id),
            SharedInput(self.enclave_config_id, mutable=True),
            pure_bytes(pcr0),
            pure_bytes(pcr1),
            pure_bytes(pcr2),
        )

    def _setter(self, function: str, admin_cap_id: str, value: Pure) -> MoveCall:
        return self._call(
            MODULE_BUILDS, function, self.registry_mut, OwnedInput(admin_cap_id), value
        )

    def set_payee(self, admin_cap_id: str, payee: str) -> MoveCall:
        return self._setter("set_payee", admin_cap_id, pure_address(payee))

    def set_min_fee(self, admin_cap_id: str, min_fee: int) -> MoveCall:
        return self._setter("set_min_fee", admin_cap_id, pure_u64(min_fee))

    def set_build_timeout_ms(self, admin_cap_id: str, build_timeout_ms: int) -> MoveCall:
        return self._setter("set_build_timeout_ms", admin_cap_id, pure_u64(build_timeout_ms))

    def set_paused(self, admin_cap_id: str, paused: bool) -> MoveCall:
        return self._setter("set_paused", admin_cap_id, pure_bool(paused))

    def set_allow_debug(self, admin_cap_id: str, allow_debug: bool) -> MoveCall:
        return self._setter("set_allow_debug", admin_cap_id, pure_bool(allow_debug))

    def set_enclave_config(self, admin_cap_id: str, enclave_config_id: str) -> MoveCall:
        return self._setter("set_enclave_config", admin_cap_id, pure_address(enclave_config_id))

    def migrate(self, admin_cap_id: str) -> MoveCall:
        return self._call(MODULE_BUILDS, "migrate", self.registry_mut, OwnedInput(admin_cap_id))


# --- building bytes -------------------------------------------------------------------------------------


def objects_needed(calls: Sequence[MoveCall]) -> tuple[set[str], set[str]]:
    """Ids whose initial shared version (first set) or current reference (second set) a build needs."""
    shared: set[str] = set()
    owned: set[str] = set()
    for call in calls:
        for arg in call.args:
            if isinstance(arg, SharedInput) and bcs.normalize_address(arg.object_id) != CLOCK_ID:
                shared.add(bcs.normalize_address(arg.object_id))
            elif isinstance(arg, OwnedInput):
                owned.add(bcs.normalize_address(arg.object_id))
    return shared, owned


class _Inputs:
    """Adds each object once (Sui refuses a transaction naming one object twice) and every pure value."""

    def __init__(self, builder: ProgrammableTransactionBuilder, objects: Mapping[str, ObjectInfo]):
        self._builder = builder
        self._objects = objects
        self._by_id: dict[str, tuple[Any, bool]] = {}

    def pure(self, data: bytes) -> Any:
        return self._builder.input_pure(pbcs.BuilderArg("Pure", list(data)))

    def shared(self, arg: SharedInput) -> Any:
        object_id = bcs.normalize_address(arg.object_id)
        known = self._by_id.get(object_id)
        if known is not None:
            if arg.mutable and not known[1]:
                raise ValueError(f"{object_id} is used both by & and by &mut in one transaction")
            return known[0]
        if object_id == CLOCK_ID:
            version = CLOCK_INITIAL_SHARED_VERSION
        else:
            info = self._info(object_id)
            if not info.is_shared or info.initial_shared_version is None:
                raise ChainError(f"object {object_id} is not shared (owner: {info.owner_kind})")
            version = info.initial_shared_version
        reference = pbcs.SharedObjectReference(
            pbcs.Address.from_str(object_id), version, arg.mutable
        )
        argument = self._builder.input_obj_from_objarg(pbcs.ObjectArg("SharedObject", reference))
        self._by_id[object_id] = (argument, arg.mutable)
        return argument

    def owned(self, arg: OwnedInput) -> Any:
        object_id = bcs.normalize_address(arg.object_id)
        known = self._by_id.get(object_id)
        if known is not None:
            return known[0]
        info = self._info(object_id)
        argument = self._builder.input_obj_from_objarg(
            pbcs.ObjectArg("ImmOrOwnedObject", _object_reference(info.ref))
        )
        self._by_id[object_id] = (argument, True)
        return argument

    def _info(self, object_id: str) -> ObjectInfo:
        info = self._objects.get(object_id)
        if info is None:
            raise ObjectNotFound(f"object {object_id} was not resolved before building")
        return info


def _object_reference(ref: ObjectRef) -> Any:
    return pbcs.ObjectReference(
        pbcs.Address.from_str(ref.object_id), ref.version, pbcs.Digest.from_str(ref.digest)
    )


def build_programmable(calls: Sequence[MoveCall], objects: Mapping[str, ObjectInfo]) -> Any:
    """`TransactionKind::ProgrammableTransaction` for `calls` (pysui BCS value, opaque to callers).

    `objects` maps normalised ids to their current `ObjectInfo` (initial shared version for shared objects,
    reference for owned ones); the Clock needs no entry.
    """
    builder = ProgrammableTransactionBuilder(compress_inputs=False)
    inputs = _Inputs(builder, objects)
    framework = pbcs.Address.from_str(SUI_FRAMEWORK)
    for call in calls:
        arguments: list[Any] = []
        for arg in call.args:
            if isinstance(arg, Pure):
                arguments.append(inputs.pure(arg.data))
            elif isinstance(arg, SharedInput):
                arguments.append(inputs.shared(arg))
            elif isinstance(arg, OwnedInput):
                arguments.append(inputs.owned(arg))
            elif isinstance(arg, GasSplit):
                amount = inputs.pure(pure_u64(arg.amount).data)
                arguments.append(
                    builder.command(
                        pbcs.Command(
                            "SplitCoin", pbcs.SplitCoin(pbcs.Argument("GasCoin", None), [amount])
                        )
                    )
                )
            else:  # NitroLoad
                document = inputs.pure(pure_bytes(arg.document).data)
                clock = inputs.shared(CLOCK)
                arguments.append(
                    builder.command(
                        pbcs.Command(
                            "MoveCall",
                            pbcs.ProgrammableMoveCall(
                                framework, NITRO_MODULE, NITRO_LOAD, [], [document, clock]
                            ),
                        )
                    )
                )
        builder.command(
            pbcs.Command(
                "MoveCall",
                pbcs.ProgrammableMoveCall(
                    pbcs.Address.from_str(call.package_id),
                    call.module,
                    call.function,
                    [],
                    arguments,
                ),
            )
        )
    return builder.finish_for_inspect()


def transaction_data(
    kind: Any,
    *,
    sender: str,
    gas: Sequence[ObjectRef],
    gas_price: int,
    gas_budget: int,
) -> bytes:
    """`bcs(TransactionData::V1)` with the sender paying gas from `gas` and no expiration."""
    gas_data = pbcs.GasData(
        [_object_reference(ref) for ref in gas],
        pbcs.Address.from_str(sender),
        gas_price,
        gas_budget,
    )
    data = pbcs.TransactionData(
        "V1",
        pbcs.TransactionDataV1(
            kind,
            pbcs.Address.from_str(sender),
            gas_data,
            pbcs.TransactionExpiration("None", None),
        ),
    )
    raw: bytes = data.serialize()
    return raw


# --- gas tracking and submission ------------------------------------------------------------------------


class GasTracker:
    """The current reference of one gas coin of `owner`, kept from effects instead of re-reading.

    Without `coin_id` it adopts the owner's richest `Coin<SUI>` on first use. `invalidate()` forces a
    re-read (after a rejection, an unknown outcome, or anything else that leaves the version in doubt).
    """

    def __init__(self, writer: ChainWriter, owner: str, *, coin_id: str | None = None) -> None:
        self._writer = writer
        self.owner = bcs.normalize_address(owner)
        self._coin_id = bcs.normalize_address(coin_id) if coin_id else None
        self._ref: ObjectRef | None = None

    async def current(self) -> ObjectRef:
        if self._ref is None:
            self._ref = await self._read()
        return self._ref

    def observe(self, result: ExecutionResult) -> None:
        if result.gas_object is not None and result.gas_object.object_id == self._coin_id:
            self._ref = result.gas_object

    def invalidate(self) -> None:
        self._ref = None

    async def _read(self) -> ObjectRef:
        if self._coin_id is not None:
            return (await self._writer.get_object(self._coin_id)).ref
        coins = await self._writer.list_gas_coins(self.owner)
        if not coins:
            raise ChainError(f"{self.owner} owns no SUI coins to pay gas with: fund it first")
        richest = max(coins, key=lambda coin: coin.balance)
        self._coin_id = richest.ref.object_id
        return richest.ref


class TransactionSubmitter:
    """Builds, signs and executes calls one at a time for one signer; raises `TransactionFailed` on abort.

    Submissions are serialised: they share one gas coin, whose version changes with every transaction.
    Initial shared versions are cached (they never change); owned objects are re-read for every call.

    After an `OutcomeUnknown` the signed bytes are kept "in doubt": before building anything new, the next
    `submit` (or `settle()`) resubmits exactly those bytes, which Sui answers with the first result if they
    executed. Signing new bytes over the same gas coin version instead could equivocate and, on a real
    network, lock the coin until the end of the epoch.
    """

    def __init__(
        self,
        writer: ChainWriter,
        signer: SuiSigner,
        *,
        gas_budget: int,
        gas: GasTracker | None = None,
        gas_price: int | None = None,
    ) -> None:
        self._writer = writer
        self.signer = signer
        self.gas_budget = gas_budget
        self.gas = gas or GasTracker(writer, signer.address)
        self._gas_price = gas_price
        self._shared: dict[str, ObjectInfo] = {}
        self._in_doubt: tuple[bytes, str] | None = None
        self._lock = asyncio.Lock()

    async def submit(self, *calls: MoveCall) -> ExecutionResult:
        async with self._lock:
            await self._settle()
            tx_bytes = await self.prepare(*calls)
            result = await self._execute(tx_bytes, self.signer.sign_transaction(tx_bytes))
            if not result.ok:
                raise _failure(result)
            log.info("executed %s (%s)", result.digest, ", ".join(c.function for c in calls))
            return result

    async def settle(self) -> ExecutionResult | None:
        """Learn the outcome of a transaction left in doubt: its result, or None if there is none.

        Raises `OutcomeUnknown` again while the node stays unreachable; `TransactionRejected` clears the
        doubt (the bytes never executed and no longer can).
        """
        async with self._lock:
            return await self._settle()

    @property
    def in_doubt(self) -> str | None:
        """The digest of a transaction whose outcome is unknown, if any."""
        return transaction_digest_b58(self._in_doubt[0]) if self._in_doubt else None

    async def _settle(self) -> ExecutionResult | None:
        if self._in_doubt is None:
            return None
        tx_bytes, signature = self._in_doubt
        try:
            result = await self._execute(tx_bytes, signature)
        except TransactionRejected:
            self._in_doubt = None
            raise
        log.info("transaction %s in doubt: %s", result.digest, "ok" if result.ok else "failed")
        return result

    async def _execute(self, tx_bytes: bytes, signature: str) -> ExecutionResult:
        try:
            result = await self._writer.execute(tx_bytes, [signature])
        except OutcomeUnknown:
            self._in_doubt = (tx_bytes, signature)
            self.gas.invalidate()
            raise
        except TransactionRejected:
            self.gas.invalidate()
            raise
        self._in_doubt = None
        self.gas.observe(result)
        return result

    async def prepare(self, *calls: MoveCall) -> bytes:
        """The unsigned transaction bytes for `calls`, with objects and gas resolved now."""
        objects = await self._resolve(calls)
        kind = build_programmable(calls, objects)
        return transaction_data(
            kind,
            sender=self.signer.address,
            gas=[await self.gas.current()],
            gas_price=await self._price(),
            gas_budget=self.gas_budget,
        )

    async def _price(self) -> int:
        if self._gas_price is None:
            self._gas_price = await self._writer.reference_gas_price()
        return self._gas_price

    async def _resolve(self, calls: Sequence[MoveCall]) -> dict[str, ObjectInfo]:
        shared, owned = objects_needed(calls)
        wanted = sorted((shared - self._shared.keys()) | owned)
        fetched = await self._writer.get_objects(wanted) if wanted else []
        for info in fetched:
            if bcs.normalize_address(info.object_id) in shared:
                self._shared[bcs.normalize_address(info.object_id)] = info
        objects = {bcs.normalize_address(info.object_id): info for info in fetched}
        objects.update({object_id: self._shared[object_id] for object_id in shared})
        return objects


def _failure(result: ExecutionResult) -> TransactionFailed:
    abort = result.abort
    if abort is not None:
        message = (
            f"transaction {result.digest} aborted in {abort.module}::{abort.function} "
            f"with code {abort.code}"
        )
        return TransactionFailed(
            message,
            abort_code=abort.code,
            digest=result.digest,
            module=abort.module,
            function=abort.function,
        )
    return TransactionFailed(
        f"transaction {result.digest} failed: {result.error or result.error_kind}",
        digest=result.digest,
    )
