"""An in-memory Sui node for pipeline tests (a `ChainSource`), with failure injection, and event builders.

`FakeChain` keeps checkpoints in a dict and behaves like a fullnode where it matters to the indexer: a
subscription starts at the tip and never replays; `prune_below` makes old checkpoints unavailable; faults
can end or break streams after N frames, skip a checkpoint on the stream (a cursor jump), or fail unary
calls with UNAVAILABLE a number of times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence

from daas.chain.bcs import Struct
from daas.chain.codecs import (
    BuildCancelled,
    BuildFailed,
    BuildRequested,
    BuildSucceeded,
    EnclaveDestroyed,
    EnclaveRegistered,
    RegistryUpdated,
)
from daas.chain.ports import CHECKPOINT_EVENTS_MASK
from daas.chain.types import ChainEvent, Checkpoint, CheckpointTransaction, ServiceInfo
from daas.errors import ChainUnavailable, CheckpointPruned

CHAIN_ID = "FakeChain1111111111111111111111111111111111"
PACKAGE = "0x" + "d0" * 32
OTHER_PACKAGE = "0x" + "0e" * 32
REQUESTER = "0x" + "ab" * 32
PAYEE = "0x" + "ee" * 32
T0 = 1_760_000_000_000


def object_id(n: int) -> str:
    return f"0x{n:064x}"


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def event_type(value: Struct | str, package: str = PACKAGE) -> str:
    if isinstance(value, str):
        return f"{package}::{value}"
    return f"{package}::{value.MODULE}::{type(value).__name__}"  # type: ignore[attr-defined]


def requested(n: int, *, fee: int = 10_000_000) -> BuildRequested:
    return BuildRequested(
        request_id=object_id(n),
        requester=REQUESTER,
        source_blob_id=f"blob-{n}",
        source_sha256=sha(f"source {n}"),
        dockerfile_path="Dockerfile",
        platform="linux/amd64",
        spec_digest=sha(f"spec {n}"),
        fee=fee,
        created_at_ms=T0 + n,
        deadline_ms=T0 + n + 3_600_000,
    )


def succeeded(n: int, enclave: int = 1) -> BuildSucceeded:
    return BuildSucceeded(
        request_id=object_id(n),
        requester=REQUESTER,
        enclave_id=object_id(0xE000 + enclave),
        enclave_pk=sha(f"pk {enclave}"),
        config_version=1,
        spec_digest=sha(f"spec {n}"),
        image_digest=sha(f"image {n}"),
        image_index_blob_id=f"index-{n}",
        log_digest=sha(f"log {n}"),
        log_blob_id=f"log-{n}",
        timestamp_ms=T0 + n + 1000,
        signature=b"\x07" * 64,
        fee_paid=10_000_000,
        payee=PAYEE,
    )


def failed(n: int, code: int = 110, enclave: int = 1) -> BuildFailed:
    return BuildFailed(
        request_id=object_id(n),
        requester=REQUESTER,
        enclave_id=object_id(0xE000 + enclave),
        enclave_pk=sha(f"pk {enclave}"),
        config_version=1,
        spec_digest=sha(f"spec {n}"),
        error_code=code,
        log_digest=sha(f"log {n}"),
        log_blob_id=f"log-{n}",
        timestamp_ms=T0 + n + 1000,
        signature=b"\x07" * 64,
        fee_paid=10_000_000 if code < 200 else 0,
        refunded=0 if code < 200 else 10_000_000,
    )


def cancelled(n: int) -> BuildCancelled:
    return BuildCancelled(object_id(n), REQUESTER, 10_000_000, T0 + n + 3_700_000)


def enclave_registered(n: int) -> EnclaveRegistered:
    return EnclaveRegistered(
        enclave_id=object_id(0xE000 + n),
        config_id=object_id(0xC000),
        config_version=1,
        pk=sha(f"pk {n}"),
        pcr0=b"",
        pcr1=b"",
        pcr2=b"",
        attestation_timestamp_ms=0,
        owner=REQUESTER,
        debug=True,
    )


def enclave_destroyed(n: int) -> EnclaveDestroyed:
    return EnclaveDestroyed(object_id(0xE000 + n), object_id(0xC000))


def registry_updated() -> RegistryUpdated:
    return RegistryUpdated(
        object_id(0xF000), PAYEE, 10_000_000, 3_600_000, False, object_id(0xC000), True
    )


@dataclasses.dataclass(frozen=True)
class RawEvent:
    """An event given as its type string and raw contents (malformed BCS, unknown names, other packages)."""

    event_type: str
    contents: bytes


EventSpec = Struct | RawEvent


def chain_event(spec: EventSpec, index: int, package: str = PACKAGE) -> ChainEvent:
    if isinstance(spec, RawEvent):
        return ChainEvent(spec.event_type, spec.contents, index)
    return ChainEvent(event_type(spec, package), spec.to_bcs(), index)


@dataclasses.dataclass
class Faults:
    stream_end_after: int | None = None  # each subscription ends (cleanly) after this many frames
    stream_error_after: int | None = None  # ... or fails with UNAVAILABLE
    skip_on_stream: set[int] = dataclasses.field(
        default_factory=set
    )  # never sent on streams (once)
    unavailable_calls: int = 0  # the next N get_checkpoint calls fail with UNAVAILABLE
    get_delay_s: float = 0.0


class FakeChain:
    """A `ChainSource` over checkpoints held in memory."""

    def __init__(self, chain_id: str = CHAIN_ID, *, start: int = 0) -> None:
        self.chain_id = chain_id
        self.checkpoints: dict[int, Checkpoint] = {}
        self.lowest_available = start
        self.faults = Faults()
        self._subscribers: list[asyncio.Queue[int | None]] = []
        self._tx = itertools.count()
        self._next = start
        self.calls: list[str] = []
        self.on_get: Callable[[int], None] | None = None  # called with every GetCheckpoint number
        self.append([])  # an empty first checkpoint, `start`

    @property
    def tip(self) -> int:
        return max(self.checkpoints)

    def append(
        self, transactions: Sequence[Sequence[EventSpec]], *, timestamp_ms: int | None = None
    ) -> Checkpoint:
        """A new checkpoint whose transactions emit these events; streamed to every subscriber."""
        sequence = self._next
        self._next += 1
        txs = tuple(
            CheckpointTransaction(
                f"Tx{next(self._tx):040d}",
                tuple(chain_event(spec, i) for i, spec in enumerate(events)),
            )
            for events in transactions
        )
        checkpoint = Checkpoint(sequence, f"Cp{sequence}", timestamp_ms or T0 + sequence * 250, txs)
        self.checkpoints[sequence] = checkpoint
        for queue in self._subscribers:
            queue.put_nowait(sequence)
        return checkpoint

    def append_many(self, count: int, events_each: int = 1, *, first_request: int = 0) -> None:
        """`count` checkpoints of `events_each` BuildRequested events (request ids from first_request)."""
        n = first_request
        for _ in range(count):
            self.append([[requested(n + i)] for i in range(events_each)])
            n += events_each

    def prune_below(self, sequence: int) -> None:
        self.lowest_available = sequence

    def drop_streams(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)

    # --- ChainSource -------------------------------------------------------------------------------------

    async def service_info(self) -> ServiceInfo:
        self.calls.append("service_info")
        return ServiceInfo(
            chain_id=self.chain_id,
            chain="fake",
            epoch=0,
            checkpoint_height=self.tip,
            lowest_available_checkpoint=self.lowest_available,
            timestamp_ms=None,
            server="fake",
        )

    async def get_checkpoint(
        self,
        sequence_number: int | None = None,
        *,
        read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK,
    ) -> Checkpoint:
        self.calls.append(f"get:{sequence_number}")
        if self.on_get is not None and sequence_number is not None:
            self.on_get(sequence_number)
        if self.faults.get_delay_s:
            await asyncio.sleep(self.faults.get_delay_s)
        if self.faults.unavailable_calls > 0:
            self.faults.unavailable_calls -= 1
            raise ChainUnavailable("GetCheckpoint: UNAVAILABLE (injected)")
        sequence = self.tip if sequence_number is None else sequence_number
        if sequence < self.lowest_available:
            raise CheckpointPruned(
                f"checkpoint {sequence} is pruned (lowest {self.lowest_available})"
            )
        if sequence not in self.checkpoints:
            raise ChainUnavailable(f"checkpoint {sequence} is not there yet")
        return self.checkpoints[sequence]

    async def subscribe_checkpoints(
        self, *, read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK
    ) -> AsyncIterator[Checkpoint]:
        self.calls.append("subscribe")
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        queue.put_nowait(self.tip)
        self._subscribers.append(queue)
        sent = 0
        try:
            while (sequence := await queue.get()) is not None:
                if sequence in self.faults.skip_on_stream:
                    self.faults.skip_on_stream.discard(sequence)
                    continue
                yield self.checkpoints[sequence]
                sent += 1
                if (
                    self.faults.stream_end_after is not None
                    and sent >= self.faults.stream_end_after
                ):
                    return
                if (
                    self.faults.stream_error_after is not None
                    and sent >= self.faults.stream_error_after
                ):
                    raise ChainUnavailable("SubscribeCheckpoints: UNAVAILABLE (injected)")
        finally:
            self._subscribers.remove(queue)
