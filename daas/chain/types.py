"""Plain values the chain client returns: objects, coins, checkpoints, events, execution results.

They are ours, not pysui's: the indexer and runner see only these (through `daas.chain.ports`), so the
betterproto2 messages stay inside `daas.chain.client`.
"""

from __future__ import annotations

import dataclasses
import enum

from daas.chain.bcs import Struct, normalize_address
from daas.chain.codecs import EventType, decode_event, event_class
from daas.errors import CodecError


class OwnerKind(enum.StrEnum):
    ADDRESS = "address"
    OBJECT = "object"
    SHARED = "shared"
    IMMUTABLE = "immutable"
    CONSENSUS_ADDRESS = "consensus_address"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """`(id, version, digest)`: what a transaction names an owned object (or gas coin) by."""

    object_id: str
    version: int
    digest: str  # base58


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One live object as the node serves it."""

    object_id: str
    version: int
    digest: str
    owner_kind: OwnerKind
    owner_address: str | None = None
    # Fixed at creation; every transaction naming a shared object must repeat it.
    initial_shared_version: int | None = None
    object_type: str | None = None
    contents: bytes | None = None  # BCS of the Move struct, id first
    balance: int | None = None  # set for `Coin<T>`
    previous_transaction: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.object_id, self.version, self.digest)

    @property
    def is_shared(self) -> bool:
        return self.owner_kind is OwnerKind.SHARED


@dataclasses.dataclass(frozen=True)
class Coin:
    ref: ObjectRef
    balance: int


@dataclasses.dataclass(frozen=True)
class ServiceInfo:
    chain_id: str
    chain: str | None
    epoch: int | None
    checkpoint_height: int | None
    lowest_available_checkpoint: int | None
    timestamp_ms: int | None
    server: str | None


@dataclasses.dataclass(frozen=True)
class ChainEvent:
    """A Move event: its type (`0xPKG::module::Name`) and the BCS of the struct.

    ``decoded`` is set by the client for our own package's events when it knows the package id; an event of
    ours that fails to decode keeps ``decoded=None`` (``decode`` says why), so a reader can record it.
    """

    event_type: str
    contents: bytes
    index: int
    sender: str | None = None
    package_id: str | None = None  # package of the top-level call that emitted it
    module: str | None = None  # module of that call
    decoded: Struct | None = None

    def is_ours(self, package_id: str) -> bool:
        try:
            parsed = EventType.parse(self.event_type)
        except CodecError:
            return False
        return parsed.package == normalize_address(package_id) and (
            event_class(parsed.module, parsed.name) is not None
        )

    def decode(self, package_id: str) -> Struct | None:
        """Our event as its codec struct; None for anyone else's; `CodecError` for malformed bytes."""
        if not self.is_ours(package_id):
            return None
        parsed = EventType.parse(self.event_type)
        return decode_event(parsed.module, parsed.name, self.contents)


@dataclasses.dataclass(frozen=True)
class CheckpointTransaction:
    digest: str
    events: tuple[ChainEvent, ...] = ()


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint reduced to what we read: its position, time, and the events of its transactions."""

    sequence_number: int
    digest: str | None
    timestamp_ms: int | None
    transactions: tuple[CheckpointTransaction, ...] = ()


@dataclasses.dataclass(frozen=True)
class MoveAbortInfo:
    """Where and with which code Move code aborted (codes are unique per module only)."""

    package: str | None
    module: str | None
    function: str | None
    code: int
    command: int | None = None


@dataclasses.dataclass(frozen=True)
class GasCost:
    computation: int
    storage: int
    rebate: int
    non_refundable: int = 0

    @property
    def net(self) -> int:
        """MIST taken from the gas coin."""
        return self.computation + self.storage - self.rebate


class ChangeKind(enum.StrEnum):
    CREATED = "created"
    MUTATED = "mutated"
    DELETED = "deleted"


@dataclasses.dataclass(frozen=True)
class ChangedObject:
    object_id: str
    kind: ChangeKind
    version: int | None  # output version (None once deleted)
    digest: str | None
    owner_kind: OwnerKind | None = None
    owner_address: str | None = None
    initial_shared_version: int | None = None
    object_type: str | None = None

    @property
    def ref(self) -> ObjectRef:
        if self.version is None or self.digest is None:
            raise ValueError(f"object {self.object_id} was deleted and has no reference")
        return ObjectRef(self.object_id, self.version, self.digest)


@dataclasses.dataclass(frozen=True)
class ExecutionResult:
    """What `ExecuteTransaction` reported. ``ok`` False means executed-but-failed (gas still charged)."""

    digest: str
    ok: bool
    error: str | None = None  # the node's description of a failure
    error_kind: str | None = None  # e.g. "MOVE_ABORT", "INSUFFICIENT_GAS"
    abort: MoveAbortInfo | None = None
    gas_object: ObjectRef | None = None  # the gas coin after the transaction
    gas_used: GasCost | None = None
    changed: tuple[ChangedObject, ...] = ()
    events: tuple[ChainEvent, ...] = ()
    checkpoint: int | None = None
    lamport_version: int | None = None

    @property
    def created(self) -> tuple[ChangedObject, ...]:
        return tuple(c for c in self.changed if c.kind is ChangeKind.CREATED)

    @property
    def mutated(self) -> tuple[ChangedObject, ...]:
        return tuple(c for c in self.changed if c.kind is ChangeKind.MUTATED)

    @property
    def deleted(self) -> tuple[ChangedObject, ...]:
        return tuple(c for c in self.changed if c.kind is ChangeKind.DELETED)

    def decoded_events(self) -> list[Struct]:
        """Our package's events, decoded (those the client could decode)."""
        return [e.decoded for e in self.events if e.decoded is not None]
