"""The two faces of a Sui node our services depend on, as Protocols.

The indexer reads checkpoints through `ChainSource`; the runner and the CLI write through `ChainWriter`.
`daas.chain.client.SuiClient` implements both; tests may pass any object with these methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from daas.chain.types import Checkpoint, Coin, ExecutionResult, ObjectInfo, ServiceInfo

# Paths of `Checkpoint` our readers decode (sui.rpc.v2 read-mask syntax). `transactions.events` would
# take the whole subtree; we only need the type and BCS of each event.
CHECKPOINT_EVENTS_MASK: tuple[str, ...] = (
    "sequence_number",
    "digest",
    "summary.timestamp",
    "transactions.digest",
    "transactions.events.events.event_type",
    "transactions.events.events.contents",
    "transactions.events.events.sender",
    "transactions.events.events.package_id",
    "transactions.events.events.module",
)


class ChainSource(Protocol):
    """Read side: the node's identity and its checkpoints."""

    async def service_info(self) -> ServiceInfo: ...

    async def get_checkpoint(
        self,
        sequence_number: int | None = None,
        *,
        read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK,
    ) -> Checkpoint:
        """One checkpoint (the latest when `sequence_number` is None).

        Raises `CheckpointPruned` below the node's lowest available checkpoint.
        """
        ...

    def subscribe_checkpoints(
        self, *, read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK
    ) -> AsyncIterator[Checkpoint]:
        """Checkpoints from the node's tip on, in order; ends when the node drops the stream.

        Use with `contextlib.aclosing` so an early exit closes the stream.
        """
        ...


class ChainWriter(Protocol):
    """Write side: submit signed transactions, and the reads needed to build them."""

    async def execute(self, tx_bytes: bytes, signatures: Sequence[str]) -> ExecutionResult:
        """Submit signed bytes; `TransactionRejected` if refused, `OutcomeUnknown` if no answer came."""
        ...

    async def reference_gas_price(self) -> int: ...

    async def get_object(self, object_id: str) -> ObjectInfo: ...

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectInfo]: ...

    async def list_gas_coins(self, owner: str) -> list[Coin]: ...

    async def get_balance(self, owner: str) -> int: ...
