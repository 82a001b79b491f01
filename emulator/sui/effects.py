"""What the stand-in records per transaction and per checkpoint, in plain dataclasses.

The gRPC layer (`emulator.sui.service`) turns these into `sui.rpc.v2` messages; keeping them free of
betterproto lets the node be tested and replayed without any networking.
"""

from __future__ import annotations

import dataclasses
import enum

from emulator.sui.objects import NodeOwner


class IdOperation(enum.Enum):
    NONE = "none"
    CREATED = "created"
    DELETED = "deleted"


@dataclasses.dataclass(frozen=True)
class ObjectState:
    version: int
    digest: str
    owner: NodeOwner
    balance: int | None = None  # coins only, for balance changes


@dataclasses.dataclass(frozen=True)
class ObjectChange:
    object_id: str
    object_type: str
    id_operation: IdOperation
    input: ObjectState | None  # None: did not exist before
    output: ObjectState | None  # None: does not exist after


@dataclasses.dataclass(frozen=True)
class UnchangedShared:
    """A shared object read (`&`) but not written: effects record the version read."""

    object_id: str
    version: int
    digest: str


@dataclasses.dataclass(frozen=True)
class AbortLocation:
    package: str
    module: str
    function: str


@dataclasses.dataclass(frozen=True)
class ExecFailure:
    """Why a transaction failed during execution (`ExecutionError` on the wire)."""

    kind: str  # an `ExecutionErrorExecutionErrorKind` member name, e.g. "MOVE_ABORT"
    description: str
    command: int | None = None
    abort: AbortLocation | None = None
    abort_code: int | None = None
    argument_error: str | None = None  # a `CommandArgumentErrorKind` member name
    argument_index: int | None = None


@dataclasses.dataclass(frozen=True)
class GasSummary:
    computation: int
    storage: int
    rebate: int
    non_refundable: int

    @property
    def net(self) -> int:
        return self.computation + self.storage - self.rebate


@dataclasses.dataclass(frozen=True)
class NodeEvent:
    package_id: str  # of the top-level call that emitted it
    module: str  # of that call
    sender: str
    event_type: str
    contents: bytes


@dataclasses.dataclass
class TxRecord:
    """One executed transaction (user or system), with its effects and, once cut, its checkpoint."""

    digest: str
    tx_bytes: bytes | None  # None for system transactions (genesis, faucet)
    signatures: tuple[bytes, ...]
    sender: str | None
    failure: ExecFailure | None
    gas: GasSummary | None
    gas_object_id: str | None
    changes: tuple[ObjectChange, ...]
    unchanged_shared: tuple[UnchangedShared, ...]
    events: tuple[NodeEvent, ...]
    lamport_version: int
    executed_ms: int
    effects_digest: str
    events_digest: str | None
    checkpoint: int | None = None
    checkpoint_index: int | None = None
    checkpoint_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def balance_changes(self) -> dict[str, int]:
        """Net SUI per address owner, from coins created, rewritten or deleted."""
        deltas: dict[str, int] = {}
        for change in self.changes:
            for state, sign in ((change.input, -1), (change.output, 1)):
                if state is None or state.balance is None:
                    continue
                owner = getattr(state.owner, "address", None)
                if owner is not None:
                    deltas[owner] = deltas.get(owner, 0) + sign * state.balance
        return {address: delta for address, delta in deltas.items() if delta}


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    sequence_number: int
    digest: str
    previous_digest: str | None
    timestamp_ms: int
    transactions: tuple[str, ...]  # digests, in execution order
    network_total_transactions: int
    content_digest: str
