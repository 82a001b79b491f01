"""The stand-in fullnode's ledger: genesis, transaction execution, checkpoints, pruning. No networking.

`SuiNode` owns what a fullnode owns: objects with versions, digests and owners; coins and gas; signatures;
executed transactions (idempotent by digest); checkpoints cut on demand. Calls to our package go to a
`PackageModel` (see `emulator.sui.types`). Every state change is also reported to `on_op` as a small JSON
operation (`genesis`, `tx`, `fund`, `checkpoint`, `prune`); replaying those operations in order through
`replay` rebuilds the identical ledger, which is how a restarted stand-in resumes from its state file.

Rules, as on Sui: a transaction is refused before execution (`Rejected`) for a bad signature, a sender that
does not match the key, stale or foreign objects, a gas price below the reference price or a budget the gas
coins cannot cover; then it executes, and a failure during execution (a Move abort, insufficient gas...)
still charges gas and bumps the version of every owned and every mutable shared input. Written objects
take the Lamport version (highest input version + 1); shared objects keep their initial shared version.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import struct
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daas.chain.bcs import normalize_address
from daas.chain.hashing import (
    ED25519_FLAG,
    b58decode,
    b58encode,
    blake2b256,
    derive_object_id,
    ed25519_address,
    signing_digest,
    transaction_digest,
)
from emulator.sui.clock import NodeClock
from emulator.sui.effects import (
    CheckpointRecord,
    ExecFailure,
    GasSummary,
    IdOperation,
    NodeEvent,
    ObjectChange,
    ObjectState,
    TxRecord,
    UnchangedShared,
)
from emulator.sui.executor import CoinSlot, Execution, ExecutionFailed, PackageObjectValue, Value
from emulator.sui.nitro import NitroLoader
from emulator.sui.objects import (
    CLOCK_TYPE,
    COIN_TYPE,
    PACKAGE_TYPE,
    REBATE_PERCENT,
    SUI_FRAMEWORK,
    Immutable,
    NodeObject,
    NodeOwner,
    clock_contents,
    coin_contents,
    make_object,
    rewrite,
    storage_cost,
)
from emulator.sui.txdata import (
    MoveCallCommand,
    OwnedInput,
    PureInput,
    SharedInput,
    TxData,
    TxDataError,
    UnsupportedInput,
    decode_transaction,
)
from emulator.sui.types import (
    CLOCK_ID,
    AddressOwner,
    Changes,
    PackageModel,
    Shared,
    StoredObject,
    TxContext,
)

log = logging.getLogger(__name__)

MOVE_STDLIB = normalize_address("0x1")
MAX_GAS_BUDGET = 50_000_000_000
MIN_BUDGET_UNITS = 1_000  # the smallest budget is this many units at the transaction's gas price
MAX_PURE_BYTES = 16 * 1024
EPOCH = 0  # the stand-in never changes epoch

# Computation units charged (times the gas price): a base, plus per command.
BASE_UNITS = 1_000
MOVE_CALL_UNITS = 1_000
COMMAND_UNITS = 100

OpHook = Callable[[str, dict[str, Any]], None]


class Rejected(Exception):
    """The transaction is refused before execution (the node answers INVALID_ARGUMENT)."""


class StateDiverged(Exception):
    """Replaying a state file did not reproduce the recorded history."""


@dataclasses.dataclass(frozen=True)
class GenesisConfig:
    admin_address: str
    seed: str
    funded: tuple[tuple[str, int], ...] = ()
    reference_gas_price: int = 1_000
    chain_name: str = "daas-standin"

    def to_json(self) -> dict[str, Any]:
        return {
            "admin_address": self.admin_address,
            "seed": self.seed,
            "funded": [[address, amount] for address, amount in self.funded],
            "reference_gas_price": self.reference_gas_price,
            "chain_name": self.chain_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenesisConfig:
        return cls(
            admin_address=str(data["admin_address"]),
            seed=str(data["seed"]),
            funded=tuple((str(a), int(n)) for a, n in data["funded"]),
            reference_gas_price=int(data["reference_gas_price"]),
            chain_name=str(data["chain_name"]),
        )


@dataclasses.dataclass
class _Write:
    before: NodeObject | None
    after: NodeObject | None
    operation: IdOperation


class SuiNode:
    def __init__(
        self,
        model_factory: Callable[[str], PackageModel],
        *,
        clock: NodeClock | None = None,
        nitro: NitroLoader | None = None,
        on_op: OpHook | None = None,
    ) -> None:
        self._model_factory = model_factory
        self.clock = clock or NodeClock()
        self._nitro = nitro
        self.on_op = on_op
        self._replaying = False
        self.objects: dict[str, NodeObject] = {}
        self.transactions: dict[str, TxRecord] = {}
        self.checkpoints: dict[int, CheckpointRecord] = {}
        self._pending: list[str] = []
        self._faucet_count = 0
        self.lowest_available_checkpoint = 0
        self._model: PackageModel | None = None
        self._genesis: GenesisConfig | None = None
        self.chain_id = ""
        self.package_id = ""

    # --- identity ----------------------------------------------------------------------------------------

    @property
    def genesis_config(self) -> GenesisConfig:
        if self._genesis is None:
            raise RuntimeError("the node has no genesis yet")
        return self._genesis

    @property
    def model(self) -> PackageModel:
        if self._model is None:
            raise RuntimeError("the node has no genesis yet")
        return self._model

    @property
    def reference_gas_price(self) -> int:
        return self.genesis_config.reference_gas_price

    @property
    def epoch(self) -> int:
        return EPOCH

    def _find(self, suffix: str, owner: str | None = None) -> str | None:
        for obj in self.objects.values():
            if obj.type_tag == f"{self.package_id}::{suffix}" and (
                owner is None or obj.owned_by(owner)
            ):
                return obj.object_id
        return None

    @property
    def registry_id(self) -> str | None:
        return self._find("builds::Registry")

    @property
    def enclave_config_id(self) -> str | None:
        return self._find("enclave::EnclaveConfig")

    @property
    def admin_cap_id(self) -> str | None:
        return self._find("builds::AdminCap")

    # --- operations --------------------------------------------------------------------------------------

    def genesis(self, config: GenesisConfig, *, timestamp_ms: int | None = None) -> None:
        """Publish the package, create the Clock and fund addresses: checkpoint 0."""
        if self._genesis is not None:
            raise RuntimeError("genesis already ran")
        timestamp_ms = self._now(timestamp_ms)
        admin = normalize_address(config.admin_address)
        funded = tuple((normalize_address(a), int(n)) for a, n in config.funded)
        config = dataclasses.replace(config, admin_address=admin, funded=funded)
        seed = blake2b256(b"daas-standin-genesis::" + config.seed.encode())
        digest_bytes = seed  # the genesis transaction digest
        digest = b58encode(digest_bytes)
        self._genesis = config
        self.chain_id = b58encode(blake2b256(b"CheckpointSummary::genesis::" + seed))
        self.package_id = derive_object_id(digest_bytes, 0)
        self._model = self._model_factory(self.package_id)
        ctx = TxContext(admin, digest_bytes, timestamp_ms, EPOCH, ids_created=1)
        changes = self._model.publish(ctx)
        version = 1
        writes: dict[str, _Write] = {}

        def create(obj: NodeObject) -> None:
            writes[obj.object_id] = _Write(None, obj, IdOperation.CREATED)

        create(make_object(self.package_id, version, Immutable(), PACKAGE_TYPE, b"", digest))
        create(
            make_object(
                CLOCK_ID, version, Shared(1), CLOCK_TYPE, clock_contents(timestamp_ms), digest
            )
        )
        for stored in changes.created:
            create(self._from_stored(stored, version, digest))
        for address, amount in funded:
            coin_id = derive_object_id(digest_bytes, ctx.ids_created)
            ctx.ids_created += 1
            create(
                make_object(
                    coin_id,
                    version,
                    AddressOwner(address),
                    COIN_TYPE,
                    coin_contents(coin_id, amount),
                    digest,
                )
            )
        record = self._record(
            digest=digest,
            tx_bytes=None,
            signatures=(),
            sender=admin,
            failure=None,
            gas=None,
            gas_object_id=None,
            writes=writes,
            unchanged=(),
            events=self._events(changes, admin, "builds"),
            lamport=version,
            executed_ms=timestamp_ms,
        )
        self._apply(writes)
        self.transactions[digest] = record
        self._seal_checkpoint([digest], timestamp_ms, digest=self.chain_id)
        self._emit("genesis", {"config": config.to_json(), "timestamp_ms": timestamp_ms})

    def fund(self, address: str, amount: int, *, timestamp_ms: int | None = None) -> TxRecord:
        """A faucet transaction: a new coin of `amount` MIST for `address`, in the next checkpoint."""
        address = normalize_address(address)
        if amount <= 0:
            raise ValueError("fund a positive amount")
        timestamp_ms = self._now(timestamp_ms)
        self._faucet_count += 1
        digest_bytes = blake2b256(
            b"daas-standin-faucet::"
            + self.chain_id.encode()
            + struct.pack("<Q", self._faucet_count)
        )
        digest = b58encode(digest_bytes)
        coin_id = derive_object_id(digest_bytes, 0)
        coin = make_object(
            coin_id, 1, AddressOwner(address), COIN_TYPE, coin_contents(coin_id, amount), digest
        )
        writes = {coin_id: _Write(None, coin, IdOperation.CREATED)}
        record = self._record(
            digest=digest,
            tx_bytes=None,
            signatures=(),
            sender=None,
            failure=None,
            gas=None,
            gas_object_id=None,
            writes=writes,
            unchanged=(),
            events=(),
            lamport=1,
            executed_ms=timestamp_ms,
        )
        self._apply(writes)
        self.transactions[digest] = record
        self._pending.append(digest)
        self._emit("fund", {"address": address, "amount": amount, "timestamp_ms": timestamp_ms})
        return record

    def cut_checkpoint(self, *, timestamp_ms: int | None = None) -> CheckpointRecord:
        """Seal the transactions executed since the last checkpoint (possibly none) into the next one."""
        timestamp_ms = max(self._now(timestamp_ms), self.latest_checkpoint.timestamp_ms)
        pending, self._pending = self._pending, []
        checkpoint = self._seal_checkpoint(pending, timestamp_ms)
        self._tick_clock(checkpoint)
        self._emit("checkpoint", {"timestamp_ms": timestamp_ms})
        return checkpoint

    def prune_below(self, sequence_number: int) -> None:
        """Forget checkpoints below `sequence_number` (never the latest), as a pruning fullnode does."""
        sequence_number = min(sequence_number, self.latest_checkpoint.sequence_number)
        if sequence_number <= self.lowest_available_checkpoint:
            return
        for seq in range(self.lowest_available_checkpoint, sequence_number):
            self.checkpoints.pop(seq, None)
        self.lowest_available_checkpoint = sequence_number
        self._emit("prune", {"below": sequence_number})

    def execute(
        self, tx_bytes: bytes, signatures: list[bytes], *, timestamp_ms: int | None = None
    ) -> TxRecord:
        """Verify, execute and record a signed transaction; a digest seen before returns its record."""
        digest_bytes = transaction_digest(tx_bytes)
        digest = b58encode(digest_bytes)
        known = self.transactions.get(digest)
        if known is not None:
            return known
        try:
            tx = decode_transaction(tx_bytes)
        except TxDataError as exc:
            raise Rejected(str(exc)) from exc
        self._check_signatures(tx, tx_bytes, signatures)
        self._check_transaction(tx)
        gas_coins = self._gas_coins(tx)
        inputs, owned, shared = self._inputs(tx, {c.object_id for c in gas_coins})
        gas_total = sum(coin.balance for coin in gas_coins)
        if gas_total < tx.gas_budget:
            raise Rejected(
                f"gas balance {gas_total} is below the gas budget {tx.gas_budget} "
                "(GasBalanceTooLow)"
            )
        timestamp_ms = self._now(timestamp_ms)
        lamport = 1 + max(
            [c.version for c in gas_coins]
            + [o.version for o in owned]
            + [s.version for s, _ in shared]
        )
        ctx = TxContext(tx.sender, digest_bytes, timestamp_ms, EPOCH)
        gas_slot = CoinSlot(gas_coins[0].object_id, gas_total - tx.gas_budget, "gas")
        execution = Execution(tx, inputs, gas_slot, model=self.model, ctx=ctx, nitro=self._nitro)
        failure, changes, writes, gas, final_balance = self._run(
            tx, digest, lamport, gas_coins, gas_total, gas_slot, owned, shared, execution
        )
        gas_after = writes[gas_slot.object_id].after
        assert gas_after is not None
        writes[gas_slot.object_id].after = rewrite(
            gas_after,
            version=gas_after.version,
            previous_transaction=digest,
            contents=coin_contents(gas_slot.object_id, final_balance),
        )
        events = (
            self._events(changes, tx.sender, execution.first_module or "")
            if changes is not None and failure is None
            else ()
        )
        unchanged = tuple(
            UnchangedShared(obj.object_id, obj.version, obj.digest)
            for obj, mutable in shared
            if not mutable
        )
        record = self._record(
            digest=digest,
            tx_bytes=tx_bytes,
            signatures=tuple(signatures),
            sender=tx.sender,
            failure=failure,
            gas=gas,
            gas_object_id=gas_slot.object_id,
            writes=writes,
            unchanged=unchanged,
            events=events,
            lamport=lamport,
            executed_ms=timestamp_ms,
        )
        self._apply(writes)
        self.transactions[digest] = record
        self._pending.append(digest)
        self._emit(
            "tx",
            {
                "tx": base64.b64encode(tx_bytes).decode(),
                "signatures": [base64.b64encode(s).decode() for s in signatures],
                "timestamp_ms": timestamp_ms,
            },
        )
        return record

    def _run(
        self,
        tx: TxData,
        digest: str,
        lamport: int,
        gas_coins: list[NodeObject],
        gas_total: int,
        gas_slot: CoinSlot,
        owned: list[NodeObject],
        shared: list[tuple[NodeObject, bool]],
        execution: Execution,
    ) -> tuple[ExecFailure | None, Changes | None, dict[str, _Write], GasSummary, int]:
        """Execute, commit the model if all went well, and charge gas: the outcome to record."""
        units = BASE_UNITS + sum(
            MOVE_CALL_UNITS if isinstance(c, MoveCallCommand) else COMMAND_UNITS
            for c in tx.commands
        )
        computation = units * tx.gas_price
        failure: ExecFailure | None = None
        changes: Changes | None = None
        try:
            execution.run()
        except ExecutionFailed as exc:
            failure = exc.failure
        if failure is None:
            # Check gas before the model commits (its commit cannot be undone): everything but the
            # package's own new objects is known now.
            estimate = self._gas(
                self._success_writes(
                    tx, digest, lamport, gas_coins, gas_slot, owned, shared, execution, None
                ),
                computation,
            )
            if estimate.computation + estimate.storage > tx.gas_budget:
                failure = ExecFailure(
                    "INSUFFICIENT_GAS",
                    f"the transaction needs at least {estimate.computation + estimate.storage} "
                    f"MIST of gas, its budget is {tx.gas_budget}",
                )
        if failure is None and execution.model_tx is not None:
            try:
                changes = execution.model_tx.commit()
            except Exception as exc:  # a model bug must fail the transaction, not the node
                log.exception("package model failed to commit %s", digest)
                failure = ExecFailure("VM_INVARIANT_VIOLATION", f"model commit failed: {exc!r}")
        if failure is None:
            writes = self._success_writes(
                tx, digest, lamport, gas_coins, gas_slot, owned, shared, execution, changes
            )
            gas = self._gas(writes, computation)
            if gas.computation + gas.storage > tx.gas_budget:
                # The package's new objects overflowed the budget after the model committed: charge
                # the whole budget (a real node would also revert; see docs/emulator.md).
                gas = dataclasses.replace(gas, computation=max(tx.gas_budget - gas.storage, 0))
            final_balance = max(gas_slot.balance + tx.gas_budget - gas.net, 0)
        else:
            writes = self._failure_writes(tx, digest, lamport, gas_coins, owned, shared)
            gas = self._gas(writes, computation)
            if failure.kind == "INSUFFICIENT_GAS":
                gas = dataclasses.replace(gas, computation=max(tx.gas_budget - gas.storage, 0))
            final_balance = max(gas_total - gas.net, 0)
        return failure, changes, writes, gas, final_balance

    def replay(self, kind: str, body: dict[str, Any]) -> None:
        """Apply one operation from a state file (without reporting it again)."""
        self._replaying = True
        try:
            if kind == "genesis":
                self.genesis(
                    GenesisConfig.from_json(body["config"]), timestamp_ms=body["timestamp_ms"]
                )
            elif kind == "tx":
                tx_bytes = base64.b64decode(body["tx"])
                signatures = [base64.b64decode(s) for s in body["signatures"]]
                try:
                    self.execute(tx_bytes, signatures, timestamp_ms=body["timestamp_ms"])
                except Rejected as exc:
                    raise StateDiverged(f"a recorded transaction is now refused: {exc}") from exc
            elif kind == "fund":
                self.fund(body["address"], body["amount"], timestamp_ms=body["timestamp_ms"])
            elif kind == "checkpoint":
                self.cut_checkpoint(timestamp_ms=body["timestamp_ms"])
            elif kind == "prune":
                self.prune_below(body["below"])
            else:
                raise StateDiverged(f"unknown operation {kind!r} in the state file")
        finally:
            self._replaying = False
        if "timestamp_ms" in body:
            self.clock.not_before(int(body["timestamp_ms"]))

    # --- queries -----------------------------------------------------------------------------------------

    @property
    def latest_checkpoint(self) -> CheckpointRecord:
        return self.checkpoints[max(self.checkpoints)]

    def checkpoint(self, sequence_number: int) -> CheckpointRecord | None:
        return self.checkpoints.get(sequence_number)

    def checkpoint_by_digest(self, digest: str) -> CheckpointRecord | None:
        return next((c for c in self.checkpoints.values() if c.digest == digest), None)

    def get_object(self, object_id: str) -> NodeObject | None:
        return self.objects.get(normalize_address(object_id))

    def owned_objects(self, owner: str) -> list[NodeObject]:
        owner = normalize_address(owner)
        return sorted(
            (obj for obj in self.objects.values() if obj.owned_by(owner)),
            key=lambda obj: obj.object_id,
        )

    def coins(self, owner: str) -> list[NodeObject]:
        return [obj for obj in self.owned_objects(owner) if obj.is_coin]

    def iter_checkpoints(self, start: int) -> Iterator[CheckpointRecord]:
        seq = start
        while seq in self.checkpoints:
            yield self.checkpoints[seq]
            seq += 1

    # --- validation --------------------------------------------------------------------------------------

    def _check_signatures(self, tx: TxData, tx_bytes: bytes, signatures: list[bytes]) -> None:
        if len(signatures) != 1:
            raise Rejected(
                f"expected exactly one signature (the sender's), got {len(signatures)}; "
                "sponsored and multi-signer transactions are not supported"
            )
        raw = signatures[0]
        if len(raw) == 98 and raw[0] == 97:  # a length-prefixed signature is accepted too
            raw = raw[1:]
        if len(raw) != 97 or raw[0] != ED25519_FLAG:
            raise Rejected(
                "only Ed25519 user signatures (flag 0x00, 97 bytes) are supported: "
                f"got {len(raw)} bytes with flag {raw[0] if raw else None}"
            )
        public_key = raw[65:]
        signer = ed25519_address(public_key)
        if signer != tx.sender:
            raise Rejected(
                f"signature is from {signer}, but the transaction's sender is {tx.sender}"
            )
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                raw[1:65], signing_digest(tx_bytes)
            )
        except InvalidSignature:
            raise Rejected("invalid user signature: it does not sign these bytes") from None

    def _check_transaction(self, tx: TxData) -> None:
        if tx.expiration == "Epoch" and tx.expiration_epoch is not None:
            if tx.expiration_epoch < EPOCH:
                raise Rejected(f"transaction expired at epoch {tx.expiration_epoch}")
        elif tx.expiration != "None":
            raise Rejected(f"transaction expiration {tx.expiration} is not supported")
        if tx.gas_owner != tx.sender:
            raise Rejected("sponsored transactions (gas owner != sender) are not supported")
        if tx.gas_price < self.reference_gas_price:
            raise Rejected(
                f"gas price {tx.gas_price} is below the reference gas price "
                f"{self.reference_gas_price}"
            )
        if not MIN_BUDGET_UNITS * tx.gas_price <= tx.gas_budget <= MAX_GAS_BUDGET:
            raise Rejected(
                f"gas budget {tx.gas_budget} is outside "
                f"{MIN_BUDGET_UNITS * tx.gas_price}..={MAX_GAS_BUDGET}"
            )
        for command in tx.commands:
            if isinstance(command, MoveCallCommand) and command.package not in (
                self.package_id,
                SUI_FRAMEWORK,
                MOVE_STDLIB,
            ):
                raise Rejected(f"package {command.package} does not exist")

    def _gas_coins(self, tx: TxData) -> list[NodeObject]:
        if not tx.gas_payment:
            raise Rejected("no gas coin given (address-balance gas is not supported)")
        coins: list[NodeObject] = []
        for ref in tx.gas_payment:
            obj = self._current(ref.object_id, ref.version, ref.digest, "gas coin")
            if not obj.is_coin:
                raise Rejected(f"gas object {ref.object_id} is not a Coin<SUI>")
            if not obj.owned_by(tx.sender):
                raise Rejected(f"gas coin {ref.object_id} is not owned by {tx.sender}")
            if obj in coins:
                raise Rejected(f"gas coin {ref.object_id} is listed twice")
            coins.append(obj)
        return coins

    def _current(self, object_id: str, version: int, digest: str, what: str) -> NodeObject:
        obj = self.objects.get(object_id)
        if obj is None:
            raise Rejected(f"{what} {object_id} does not exist (or was deleted)")
        if obj.version != version or obj.digest != digest:
            raise Rejected(
                f"{what} {object_id} version {version} is not available for consumption: "
                f"its current version is {obj.version}"
            )
        return obj

    def _inputs(
        self, tx: TxData, gas_ids: set[str]
    ) -> tuple[list[Value], list[NodeObject], list[tuple[NodeObject, bool]]]:
        values: list[Value] = []
        owned: list[NodeObject] = []
        shared: list[tuple[NodeObject, bool]] = []
        seen: set[str] = set(gas_ids)
        for index, item in enumerate(tx.inputs):
            if isinstance(item, PureInput):
                if len(item.data) > MAX_PURE_BYTES:
                    raise Rejected(f"pure input {index} is over {MAX_PURE_BYTES} bytes")
                values.append(item.data)
                continue
            if isinstance(item, UnsupportedInput):
                raise Rejected(f"input {index}: {item.kind} inputs are not supported")
            if item.object_id in seen:
                raise Rejected(f"object {item.object_id} appears twice among the inputs and gas")
            seen.add(item.object_id)
            if isinstance(item, OwnedInput):
                obj = self._current(item.object_id, item.version, item.digest, f"input {index}")
                if isinstance(obj.owner, Shared):
                    raise Rejected(f"input {index}: {obj.object_id} is shared, not owned")
                if isinstance(obj.owner, AddressOwner) and not obj.owned_by(tx.sender):
                    raise Rejected(
                        f"input {index}: {obj.object_id} is owned by {obj.owner.address}, "
                        f"not by the sender {tx.sender}"
                    )
                if isinstance(obj.owner, AddressOwner):
                    owned.append(obj)
                if obj.is_coin:
                    values.append(CoinSlot(obj.object_id, obj.balance, "input"))
                else:
                    values.append(PackageObjectValue(obj.object_id, mutable=True))
                continue
            assert isinstance(item, SharedInput)
            shared_obj = self.objects.get(item.object_id)
            if shared_obj is None:
                raise Rejected(f"input {index}: shared object {item.object_id} does not exist")
            if shared_obj.initial_shared_version is None:
                raise Rejected(f"input {index}: {item.object_id} is not a shared object")
            if shared_obj.initial_shared_version != item.initial_shared_version:
                raise Rejected(
                    f"input {index}: {item.object_id} was shared at version "
                    f"{shared_obj.initial_shared_version}, not {item.initial_shared_version}"
                )
            if item.object_id == CLOCK_ID and item.mutable:
                raise Rejected("the Clock (0x6) may only be passed immutably")
            shared.append((shared_obj, item.mutable))
            values.append(PackageObjectValue(shared_obj.object_id, item.mutable))
        return values, owned, shared

    # --- outcome -----------------------------------------------------------------------------------------

    def _success_writes(
        self,
        tx: TxData,
        digest: str,
        lamport: int,
        gas_coins: list[NodeObject],
        gas_slot: CoinSlot,
        owned: list[NodeObject],
        shared: list[tuple[NodeObject, bool]],
        execution: Execution,
        changes: Changes | None,
    ) -> dict[str, _Write]:
        writes: dict[str, _Write] = {}

        def bump(obj: NodeObject, **change: Any) -> None:
            writes[obj.object_id] = _Write(
                obj,
                rewrite(obj, version=lamport, previous_transaction=digest, **change),
                IdOperation.NONE,
            )

        def delete(obj: NodeObject) -> None:
            writes[obj.object_id] = _Write(obj, None, IdOperation.DELETED)

        # Gas: the first coin absorbs the others ("smashing"); its balance is set once gas is known.
        gas_owner = gas_slot.recipient or tx.sender
        bump(gas_coins[0], owner=AddressOwner(gas_owner))
        for coin in gas_coins[1:]:
            delete(coin)
        slots = {v.object_id: v for v in execution.inputs if isinstance(v, CoinSlot)}
        for obj in owned:
            slot = slots.get(obj.object_id)
            if slot is None:
                bump(obj)  # every owned input gets a new version, even one only read
            elif slot.moved and slot.recipient is None:
                delete(obj)
            else:
                bump(
                    obj,
                    contents=coin_contents(obj.object_id, slot.balance),
                    owner=AddressOwner(slot.recipient or tx.sender),
                )
        for obj, mutable in shared:
            if mutable:
                bump(obj)
        if changes is not None:
            for stored in changes.created:
                created = self._from_stored(stored, lamport, digest)
                writes[created.object_id] = _Write(None, created, IdOperation.CREATED)
            for stored in changes.mutated:
                before = self.objects[stored.object_id]
                bump(before, contents=stored.contents, owner=self._owner(stored, lamport))
            for object_id in changes.deleted:
                delete(self.objects[object_id])
            for payout in changes.payouts:
                # The model names payout coins: `coin::from_balance` takes an id in Move.
                coin_id = payout.coin_id
                coin = make_object(
                    coin_id,
                    lamport,
                    AddressOwner(payout.recipient),
                    COIN_TYPE,
                    coin_contents(coin_id, payout.amount),
                    digest,
                )
                writes[coin.object_id] = _Write(None, coin, IdOperation.CREATED)
        for slot in execution.new_coins:
            if slot.recipient is not None:
                coin = make_object(
                    slot.object_id,
                    lamport,
                    AddressOwner(slot.recipient),
                    COIN_TYPE,
                    coin_contents(slot.object_id, slot.balance),
                    digest,
                )
                writes[coin.object_id] = _Write(None, coin, IdOperation.CREATED)
        return writes

    def _failure_writes(
        self,
        tx: TxData,
        digest: str,
        lamport: int,
        gas_coins: list[NodeObject],
        owned: list[NodeObject],
        shared: list[tuple[NodeObject, bool]],
    ) -> dict[str, _Write]:
        """A failed transaction still smashes and charges gas and bumps every mutable input."""
        writes: dict[str, _Write] = {}
        for obj in [gas_coins[0], *owned, *(o for o, mutable in shared if mutable)]:
            writes[obj.object_id] = _Write(
                obj, rewrite(obj, version=lamport, previous_transaction=digest), IdOperation.NONE
            )
        for coin in gas_coins[1:]:
            writes[coin.object_id] = _Write(coin, None, IdOperation.DELETED)
        return writes

    def _gas(self, writes: dict[str, _Write], computation: int) -> GasSummary:
        storage = sum(storage_cost(w.after.contents) for w in writes.values() if w.after)
        basis = sum(w.before.storage_rebate for w in writes.values() if w.before)
        rebate = basis * REBATE_PERCENT // 100
        return GasSummary(computation, storage, rebate, basis - rebate)

    def _owner(self, stored: StoredObject, lamport: int) -> NodeOwner:
        owner = stored.owner
        if isinstance(owner, Shared):
            existing = self.objects.get(stored.object_id)
            if existing is not None and existing.initial_shared_version is not None:
                return Shared(existing.initial_shared_version)
            return Shared(owner.initial_shared_version or lamport)
        return AddressOwner(normalize_address(owner.address))

    def _from_stored(self, stored: StoredObject, version: int, digest: str) -> NodeObject:
        return make_object(
            stored.object_id,
            version,
            self._owner(stored, version),
            stored.type_tag,
            stored.contents,
            digest,
        )

    def _events(self, changes: Changes | None, sender: str, module: str) -> tuple[NodeEvent, ...]:
        if changes is None:
            return ()
        return tuple(
            NodeEvent(
                package_id=self.package_id,
                module=module,
                sender=sender,
                event_type=f"{self.package_id}::{emitted.module}::{type(emitted.event).__name__}",
                contents=emitted.event.to_bcs(),
            )
            for emitted in changes.events
        )

    def _record(
        self,
        *,
        digest: str,
        tx_bytes: bytes | None,
        signatures: tuple[bytes, ...],
        sender: str | None,
        failure: ExecFailure | None,
        gas: GasSummary | None,
        gas_object_id: str | None,
        writes: dict[str, _Write],
        unchanged: tuple[UnchangedShared, ...],
        events: tuple[NodeEvent, ...],
        lamport: int,
        executed_ms: int,
    ) -> TxRecord:
        changes = tuple(
            ObjectChange(
                object_id=object_id,
                object_type=_type_of(write),
                id_operation=write.operation,
                input=_state(write.before),
                output=_state(write.after),
            )
            for object_id, write in sorted(writes.items())
        )
        effects_digest = b58encode(
            blake2b256(
                b"TransactionEffects::"
                + digest.encode()
                + repr((failure, gas, changes, unchanged, lamport)).encode()
            )
        )
        events_digest = (
            b58encode(blake2b256(b"TransactionEvents::" + b"".join(e.contents for e in events)))
            if events
            else None
        )
        return TxRecord(
            digest=digest,
            tx_bytes=tx_bytes,
            signatures=signatures,
            sender=sender,
            failure=failure,
            gas=gas,
            gas_object_id=gas_object_id,
            changes=changes,
            unchanged_shared=unchanged,
            events=events,
            lamport_version=lamport,
            executed_ms=executed_ms,
            effects_digest=effects_digest,
            events_digest=events_digest,
        )

    def _apply(self, writes: dict[str, _Write]) -> None:
        for object_id, write in writes.items():
            if write.after is None:
                self.objects.pop(object_id, None)
            else:
                self.objects[object_id] = write.after

    # --- checkpoints -------------------------------------------------------------------------------------

    def _seal_checkpoint(
        self, digests: list[str], timestamp_ms: int, *, digest: str | None = None
    ) -> CheckpointRecord:
        previous = self.latest_checkpoint if self.checkpoints else None
        seq = previous.sequence_number + 1 if previous else 0
        total = (previous.network_total_transactions if previous else 0) + len(digests)
        content_digest = b58encode(
            blake2b256(b"CheckpointContents::" + b"".join(b58decode(d) for d in digests))
        )
        if digest is None:
            digest = b58encode(
                blake2b256(
                    b"CheckpointSummary::"
                    + struct.pack("<QQQ", seq, total, timestamp_ms)
                    + b58decode(content_digest)
                    + (b58decode(previous.digest) if previous else b"")
                )
            )
        checkpoint = CheckpointRecord(
            sequence_number=seq,
            digest=digest,
            previous_digest=previous.digest if previous else None,
            timestamp_ms=timestamp_ms,
            transactions=tuple(digests),
            network_total_transactions=total,
            content_digest=content_digest,
        )
        for index, tx_digest in enumerate(digests):
            record = self.transactions[tx_digest]
            record.checkpoint = seq
            record.checkpoint_index = index
            record.checkpoint_ms = timestamp_ms
        self.checkpoints[seq] = checkpoint
        return checkpoint

    def _tick_clock(self, checkpoint: CheckpointRecord) -> None:
        """The Clock object shows the latest checkpoint's time (a new version each time, as on chain)."""
        clock = self.objects[CLOCK_ID]
        self.objects[CLOCK_ID] = rewrite(
            clock,
            version=clock.version + 1,
            previous_transaction=checkpoint.digest,
            contents=clock_contents(checkpoint.timestamp_ms),
        )

    # --- helpers -----------------------------------------------------------------------------------------

    def _now(self, timestamp_ms: int | None) -> int:
        return self.clock.now_ms() if timestamp_ms is None else int(timestamp_ms)

    def _emit(self, kind: str, body: dict[str, Any]) -> None:
        if self.on_op is not None and not self._replaying:
            self.on_op(kind, body)


def _state(obj: NodeObject | None) -> ObjectState | None:
    if obj is None:
        return None
    return ObjectState(obj.version, obj.digest, obj.owner, obj.balance if obj.is_coin else None)


def _type_of(write: _Write) -> str:
    obj = write.after or write.before
    assert obj is not None
    return obj.type_tag
