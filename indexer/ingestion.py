"""Fetch stage: every checkpoint from the resume point on, in order, exactly once into the pipeline.

A node's subscription starts at its tip and never replays, so each connection goes:

1. `GetServiceInfo` (height and lowest available checkpoint, for the lag metric and the archive decision);
2. subscribe, and take the first frame: the tip at subscription time;
3. backfill from the next checkpoint we need up to that frame with `GetCheckpoint`, several calls in flight,
   handed on in order; checkpoints below the node's `lowest_available_checkpoint` (or that it reports pruned)
   come from the archival endpoint, and without one ingestion stops with a message saying so;
4. follow the stream. Frames older than what we need are skipped.

Any stream end, transient error or cursor jump (a frame that is not the next checkpoint) closes the stream
and starts over at 1 after a backoff (none when the last connection made progress), so gaps are always filled
by a backfill. `Regulator` holds fetching to at most `max_ahead` checkpoints past the committed watermark.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from daas.chain.ports import ChainSource
from daas.chain.types import Checkpoint
from daas.errors import ChainError, ChainIdMismatch, ChainUnavailable, CheckpointPruned
from indexer.metrics import IndexerMetrics

__all__ = [
    "INDEXER_READ_MASK",
    "ArchiveMissing",
    "CursorJump",
    "Ingestion",
    "IngestionConfig",
    "Regulator",
    "first_error",
]

log = logging.getLogger(__name__)

# Only what the decode stage reads (`sender`, `package_id` and `module` of events are not needed).
INDEXER_READ_MASK: tuple[str, ...] = (
    "sequence_number",
    "digest",
    "summary.timestamp",
    "transactions.digest",
    "transactions.events.events.event_type",
    "transactions.events.events.contents",
)

# Hands a fetched checkpoint to the next stage; returns False once ingestion should stop.
Emit = Callable[[Checkpoint, float], Awaitable[bool]]


class CursorJump(ChainUnavailable):
    """The stream skipped checkpoints: reconnect and backfill the gap."""


class ArchiveMissing(CheckpointPruned):
    """A checkpoint the node pruned is needed and no archival endpoint is configured."""


@dataclasses.dataclass(frozen=True)
class IngestionConfig:
    read_mask: tuple[str, ...] = INDEXER_READ_MASK
    backfill_concurrency: int = 8  # unary GetCheckpoint calls in flight during a backfill
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 10.0

    def backoff(self, failures: int) -> float:
        """Delay before reconnect number `failures` (1-based) without progress in between."""
        ceiling = min(self.reconnect_max_s, self.reconnect_initial_s * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)


class Regulator:
    """Back-pressure: checkpoint N may be fetched only while N <= committed + max_ahead."""

    def __init__(self, committed: int, max_ahead: int) -> None:
        self._committed = committed
        self.max_ahead = max_ahead
        self._changed = asyncio.Event()

    @property
    def committed(self) -> int:
        return self._committed

    def allows(self, sequence_number: int) -> bool:
        return sequence_number <= self._committed + self.max_ahead

    async def admit(self, sequence_number: int) -> None:
        while not self.allows(sequence_number):
            self._changed.clear()
            await self._changed.wait()

    def advance(self, committed: int) -> None:
        if committed > self._committed:
            self._committed = committed
            self._changed.set()


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real failure in a task group's exception group (cancellations are consequences)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_error(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]


class Ingestion:
    """Produces checkpoints `start`, `start + 1`, ... through `emit`, reconnecting as needed."""

    def __init__(
        self,
        source: ChainSource,
        *,
        start: int,
        emit: Emit,
        regulator: Regulator,
        metrics: IndexerMetrics,
        archive: ChainSource | None = None,
        chain_id: str | None = None,
        config: IngestionConfig | None = None,
    ) -> None:
        self.source = source
        self.archive = archive
        self.next = start
        self._emit = emit
        self.regulator = regulator
        self.metrics = metrics
        self.chain_id = chain_id
        self.config = config or IngestionConfig()
        self._lowest_available: int | None = None
        self._archive_checked = False
        self._done = False

    async def run(self) -> None:
        """Until `emit` says stop; raises on a permanent error (pruned without archive, wrong chain...)."""
        failures = 0
        while not self._done:
            before = self.next
            try:
                reason = await self._connection()
            except ChainUnavailable as exc:
                reason = "cursor_jump" if isinstance(exc, CursorJump) else "unavailable"
                log.warning("checkpoint stream: %s", exc)
            if self._done:
                return
            self.metrics.reconnects.inc(reason)
            failures = 0 if self.next > before else failures + 1
            delay = self.config.backoff(failures) if failures else 0.0
            log.info(
                "reconnecting to the node (%s) in %.2fs at checkpoint %d",
                reason.replace("_", " "),
                delay,
                self.next,
            )
            await asyncio.sleep(delay)

    # --- one connection ---------------------------------------------------------------------------------

    async def _connection(self) -> str:
        """Subscribe, backfill, follow; returns the reason it ended ("ended" or "stopped")."""
        info = await self.source.service_info()
        self._lowest_available = info.lowest_available_checkpoint
        if info.checkpoint_height is not None:
            self.metrics.set_height(info.checkpoint_height)
        stream = self.source.subscribe_checkpoints(read_mask=self.config.read_mask)
        try:
            try:
                first = await anext(stream)
            except StopAsyncIteration:
                return "ended"
            self.metrics.set_height(first.sequence_number)
            if not await self._backfill(self.next, first.sequence_number):
                return "stopped"
            if first.sequence_number == self.next and not await self._hand_on(first):
                return "stopped"
            async for checkpoint in stream:
                self.metrics.set_height(checkpoint.sequence_number)
                if checkpoint.sequence_number < self.next:
                    continue
                if checkpoint.sequence_number > self.next:
                    raise CursorJump(
                        f"the stream jumped from {self.next - 1} to {checkpoint.sequence_number}"
                    )
                if not await self._hand_on(checkpoint):
                    return "stopped"
            return "ended"
        finally:
            await _aclose(stream)

    async def _hand_on(self, checkpoint: Checkpoint, received_at: float | None = None) -> bool:
        await self.regulator.admit(checkpoint.sequence_number)
        self.next = checkpoint.sequence_number + 1
        go_on = await self._emit(
            checkpoint, time.monotonic() if received_at is None else received_at
        )
        if not go_on:
            self._done = True
        return go_on

    # --- backfill ---------------------------------------------------------------------------------------

    async def _backfill(self, start: int, end: int) -> bool:
        """Fetch [start, end) with bounded concurrency and hand each on in order; False to stop."""
        if start >= end:
            return True
        log.info("backfilling checkpoints %d..%d", start, end - 1)
        try:
            async with asyncio.TaskGroup() as group:
                window: collections.deque[asyncio.Task[tuple[Checkpoint, float]]] = (
                    collections.deque()
                )
                sequence = start
                while sequence < end or window:
                    while (
                        sequence < end
                        and len(window) < self.config.backfill_concurrency
                        and self.regulator.allows(sequence)
                    ):
                        window.append(
                            group.create_task(self._fetch(sequence), name=f"checkpoint-{sequence}")
                        )
                        sequence += 1
                    if not window:
                        await self.regulator.admit(sequence)
                        continue
                    checkpoint, received_at = await window.popleft()
                    if not await self._hand_on(checkpoint, received_at):
                        for task in window:
                            task.cancel()
                        return False
        except BaseExceptionGroup as group_error:
            raise first_error(group_error) from None
        return True

    async def _fetch(self, sequence: int) -> tuple[Checkpoint, float]:
        lowest = self._lowest_available
        if lowest is not None and sequence < lowest:
            checkpoint = await self._from_archive(sequence, lowest)
            return checkpoint, time.monotonic()
        try:
            checkpoint = await self.source.get_checkpoint(sequence, read_mask=self.config.read_mask)
        except CheckpointPruned:
            checkpoint = await self._from_archive(sequence, lowest)
        return checkpoint, time.monotonic()

    async def _from_archive(self, sequence: int, lowest: int | None) -> Checkpoint:
        where = "" if lowest is None else f" (its lowest available is {lowest})"
        if self.archive is None:
            raise ArchiveMissing(
                f"checkpoint {sequence} is pruned on the node{where} and no archival endpoint is "
                "configured: set chain.archive_grpc_url (DAAS_CHAIN__ARCHIVE_GRPC_URL) to an archive "
                "node, or start an empty database at a later checkpoint with --first-checkpoint"
            )
        if not self._archive_checked:
            info = await self.archive.service_info()
            if self.chain_id is not None and info.chain_id != self.chain_id:
                raise ChainIdMismatch(
                    f"the archival endpoint serves chain {info.chain_id}, the node {self.chain_id}: "
                    "point chain.archive_grpc_url at an archive of the same network"
                )
            self._archive_checked = True
        try:
            checkpoint = await self.archive.get_checkpoint(
                sequence, read_mask=self.config.read_mask
            )
        except CheckpointPruned as exc:
            raise CheckpointPruned(
                f"checkpoint {sequence} is pruned on the node{where} and on the archival endpoint: {exc}"
            ) from exc
        self.metrics.archive_reads.inc()
        return checkpoint


async def _aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except (ChainError, RuntimeError) as exc:  # closing a broken stream: nothing left to do
            log.debug("closing the checkpoint stream: %s", exc)
