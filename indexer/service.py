"""The indexer service: start-up checks, then fetch -> decode -> commit as one task group.

```
            fetched (bounded)            decoded (bounded)
 ingest  ───────────────────▶  decode  ───────────────────▶  commit ──▶ database (rows + watermark, 1 tx)
   ▲                                                           │
   └──────── Regulator: at most max_ahead past the watermark ◀─┘──▶ Wakeup (in-process), NOTIFY (PostgreSQL)
 progress: a line every progress_interval_s          stop: SIGINT/SIGTERM -> finish the commit in flight
```

Start-up, before any task runs: our package id must be set; the schema must be current; the node's chain id
must equal the configured one (`ChainIdMismatch`); the first checkpoint is watermark + 1, or
`indexer.first_checkpoint` for a pipeline that has no watermark yet (a start that would leave a gap is a
`ConfigError`).

`commit` takes whatever decoded checkpoints are waiting, up to `indexer.batch_checkpoints`, and commits them
in one transaction: at the tip a batch is one checkpoint (low latency), during a backfill batches fill up
(throughput). The transaction runs on a dedicated thread, so the loop keeps receiving and parsing meanwhile:
PostgreSQL works in the server, and SQLite's inserts and commit run in C without the GIL (the commit stage
hands the driver ready-made value tuples, so little Python is left to contend for it). A failed commit is
retried with backoff, the same batch again; only `DatabaseError` is retried, anything else is a bug and stops the
service.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa

from daas.chain.ports import ChainSource
from daas.chain.types import Checkpoint
from daas.config import Settings
from daas.db import migrate
from daas.db.engine import describe_url, session_scope
from daas.db.notify import Wakeup
from daas.db.repos import watermarks
from daas.errors import ChainIdMismatch, ConfigError, DatabaseError
from indexer.commit import BatchOutcome, BatchWriter, FaultHook
from indexer.decode import DecodedCheckpoint, Decoder, PackageFilter
from indexer.ingestion import Ingestion, IngestionConfig, Regulator, first_error
from indexer.metrics import IndexerMetrics

__all__ = ["Indexer", "ResumePoint", "resolve_start"]

log = logging.getLogger("indexer")
T = TypeVar("T")

COMMIT_RETRY_INITIAL_S = 0.1
COMMIT_RETRY_MAX_S = 10.0


class _Finished(Exception):
    """Raised inside the task group to end it: stop requested, or the last checkpoint committed."""


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where a pipeline starts and what its watermark row already says."""

    start: int
    watermark: int | None
    tx_hi: int = 0
    timestamp_ms_hi: int = 0


def resolve_start(pipeline: str, watermark: int | None, first_checkpoint: int | None) -> int:
    """The first checkpoint to index: watermark + 1, or `first_checkpoint` for a new pipeline."""
    if watermark is None:
        return first_checkpoint if first_checkpoint is not None else 0
    resume = watermark + 1
    if first_checkpoint is not None and first_checkpoint > resume:
        raise ConfigError(
            f"indexer.first_checkpoint {first_checkpoint} would leave checkpoints "
            f"{resume}..{first_checkpoint - 1} unindexed: pipeline {pipeline!r} has committed up to "
            f"{watermark}. Remove the setting to resume at {resume}",
            setting="indexer.first_checkpoint",
        )
    if first_checkpoint is not None and first_checkpoint != resume:
        log.warning(
            "indexer.first_checkpoint %d ignored: pipeline %r has a watermark and resumes at %d",
            first_checkpoint,
            pipeline,
            resume,
        )
    return resume


class Indexer:
    """Indexes our package's events from `source` into the database on `engine`.

    `archive` serves checkpoints the node pruned. `wakeup` is fired after every commit that changed builds
    (for a runner in the same process). `last_checkpoint` stops the service once it is committed (for
    bounded backfills, tests and benchmarks). `fault` is a test seam passed to the commit stage.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: sa.Engine,
        source: ChainSource,
        archive: ChainSource | None = None,
        metrics: IndexerMetrics | None = None,
        wakeup: Wakeup | None = None,
        last_checkpoint: int | None = None,
        ingestion: IngestionConfig | None = None,
        fault: FaultHook | None = None,
        extra_package_ids: Sequence[str] = (),
        commit_in_thread: bool | None = None,
    ) -> None:
        package_id = settings.chain.package_id
        if package_id is None:
            raise ConfigError(
                "chain.package_id is not set: the indexer needs the id of the daas package "
                "(DAAS_CHAIN__PACKAGE_ID)",
                setting="chain.package_id",
            )
        self.settings = settings
        self.pipeline = settings.indexer.pipeline
        self.engine = engine
        self.source = source
        self.archive = archive
        self.metrics = metrics or IndexerMetrics()
        self.wakeup = wakeup
        self.last_checkpoint = last_checkpoint
        self.ingestion_config = ingestion or IngestionConfig()
        self.fault = fault
        self.decoder = Decoder(
            PackageFilter([package_id, *settings.chain.extra_package_ids, *extra_package_ids])
        )
        # On both databases most of a commit's time is spent outside the GIL (PostgreSQL's server, SQLite's
        # C code), so a thread lets the loop parse meanwhile: measured faster on both (bench/indexer.py).
        self.commit_in_thread = True if commit_in_thread is None else commit_in_thread
        self.chain_id: str | None = None
        self.committed: int | None = None
        self.started = asyncio.Event()  # set once the start-up checks passed
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # --- start-up ---------------------------------------------------------------------------------------

    async def check_chain(self) -> str:
        """The node's chain id, after checking it against the configured one."""
        info = await self.source.service_info()
        expected = self.settings.expected_chain_id
        if expected is not None and info.chain_id != expected:
            where = (
                "chain.chain_id"
                if self.settings.chain.chain_id
                else (f"the {self.settings.network.value} preset")
            )
            raise ChainIdMismatch(
                f"the node at {self.settings.grpc_url} serves chain {info.chain_id}, but {where} "
                f"expects {expected}: point chain.grpc_url at a node of that network"
            )
        if info.checkpoint_height is not None:
            self.metrics.set_height(info.checkpoint_height)
        return info.chain_id

    def bind_chain(self, chain_id: str) -> None:
        """Refuse a database that holds another chain's rows (synchronous, like `resume_point`)."""
        migrate.ensure_current(self.engine)
        with session_scope(self.engine) as session:
            recorded = watermarks.bind_chain(session, self.pipeline, chain_id)
            session.commit()
        if recorded != chain_id:
            raise ChainIdMismatch(
                f"the database {describe_url(self.settings.effective_database_url)} indexed chain "
                f"{recorded} for pipeline {self.pipeline!r}, but the node at {self.settings.grpc_url} "
                f"serves chain {chain_id}: use a new database for this chain (for a dev stack, a new "
                "--data-dir), or point chain.grpc_url at a node of the recorded chain"
            )

    def resume_point(self) -> ResumePoint:
        """Read the watermark (synchronous: call from a thread or before the loop is busy)."""
        migrate.ensure_current(self.engine)
        with session_scope(self.engine) as session:
            mark = watermarks.get(session, self.pipeline)
        hi = None if mark is None else mark.checkpoint_hi_inclusive
        start = resolve_start(self.pipeline, hi, self.settings.indexer.first_checkpoint)
        if mark is None:
            return ResumePoint(start, None)
        return ResumePoint(start, hi, mark.tx_hi, mark.timestamp_ms_hi)

    # --- run --------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Index until `stop` is set, `last_checkpoint` is committed, or a permanent error is raised."""
        self.chain_id = await self.check_chain()
        await asyncio.to_thread(self.bind_chain, self.chain_id)
        resume = await asyncio.to_thread(self.resume_point)
        self.committed = resume.start - 1
        if resume.watermark is not None:
            self.metrics.set_watermark(resume.watermark)
        if self.last_checkpoint is not None and self.last_checkpoint < resume.start:
            log.info("nothing to do: checkpoint %d is already indexed", self.last_checkpoint)
            return
        log.info(
            "indexing chain %s from checkpoint %d (pipeline %r, package %s)",
            self.chain_id,
            resume.start,
            self.pipeline,
            ", ".join(sorted(self.decoder.packages.package_ids)),
        )
        settings = self.settings.indexer
        queue_size = max(1, min(settings.batch_checkpoints, settings.max_ahead))
        fetched: asyncio.Queue[tuple[Checkpoint, float]] = asyncio.Queue(queue_size)
        decoded: asyncio.Queue[DecodedCheckpoint] = asyncio.Queue(queue_size)
        regulator = Regulator(self.committed, settings.max_ahead)
        writer = BatchWriter(
            self.engine,
            self.pipeline,
            tx_hi=resume.tx_hi,
            timestamp_ms_hi=resume.timestamp_ms_hi,
            fault=self.fault,
        )

        async def emit(checkpoint: Checkpoint, received_at: float) -> bool:
            await fetched.put((checkpoint, received_at))
            last = self.last_checkpoint
            return last is None or checkpoint.sequence_number < last

        ingestion = Ingestion(
            self.source,
            start=resume.start,
            emit=emit,
            regulator=regulator,
            metrics=self.metrics,
            archive=self.archive,
            chain_id=self.chain_id,
            config=self.ingestion_config,
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "indexer-commit")
        # Start-up is over: move what exists now (modules, SQLAlchemy's metadata...) out of the collector's
        # view. Batches held in the queues survive young collections, so full collections come often, and
        # each one would otherwise walk every object of the process (measured: ~10% of ingest throughput).
        gc.collect()
        gc.freeze()
        self.started.set()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(ingestion.run(), name="ingest")
                group.create_task(self._decode(fetched, decoded), name="decode")
                group.create_task(self._commit(decoded, writer, regulator), name="commit")
                group.create_task(self._progress(), name="progress")
                if stop is not None:
                    group.create_task(self._wait_for_stop(stop), name="stop")
        except BaseExceptionGroup as group_error:
            error = first_error(group_error)
            if not isinstance(error, _Finished):
                raise error from None
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
        log.info("indexer stopped at checkpoint %s", self.committed)

    async def _wait_for_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        log.info("stopping: finishing the commit in progress")
        raise _Finished

    async def _decode(
        self,
        fetched: asyncio.Queue[tuple[Checkpoint, float]],
        decoded: asyncio.Queue[DecodedCheckpoint],
    ) -> None:
        decode = self.decoder.decode
        while True:
            # Drain what is waiting: one wake-up per burst rather than per checkpoint.
            items = [await fetched.get()]
            while not fetched.empty():
                items.append(fetched.get_nowait())
            for checkpoint, received_at in items:
                await decoded.put(decode(checkpoint, received_at=received_at))

    async def _commit(
        self,
        decoded: asyncio.Queue[DecodedCheckpoint],
        writer: BatchWriter,
        regulator: Regulator,
    ) -> None:
        limit = self.settings.indexer.batch_checkpoints
        while True:
            batch = [await decoded.get()]
            while len(batch) < limit and not decoded.empty():
                batch.append(decoded.get_nowait())
            assert self.committed is not None
            expected = self.committed + 1
            # Ingestion hands each checkpoint on once, in order; anything else is a bug, and committing
            # past a gap would lose data for good.
            if [cp.sequence_number for cp in batch] != list(range(expected, expected + len(batch))):
                raise AssertionError(
                    f"batch {[cp.sequence_number for cp in batch]} does not continue at {expected}"
                )
            outcome = await self._commit_with_retry(writer, batch, regulator)
            if self.last_checkpoint is not None and outcome.last >= self.last_checkpoint:
                raise _Finished

    async def _commit_with_retry(
        self, writer: BatchWriter, batch: list[DecodedCheckpoint], regulator: Regulator
    ) -> BatchOutcome:
        failures = 0
        while True:
            try:
                outcome = await self._in_thread(
                    lambda: writer.commit(batch),
                    # Stopping mid-commit: the transaction still completes; account for it.
                    on_late_result=lambda late: self._committed(batch, late, regulator),
                )
            except DatabaseError as exc:
                failures += 1
                self.metrics.commit_failures.inc()
                delay = min(COMMIT_RETRY_MAX_S, COMMIT_RETRY_INITIAL_S * 2 ** (failures - 1))
                log.warning(
                    "commit of checkpoints %d..%d failed (attempt %d), retrying in %.1fs: %s",
                    batch[0].sequence_number,
                    batch[-1].sequence_number,
                    failures,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
            else:
                self._committed(batch, outcome, regulator)
                return outcome

    async def _in_thread(
        self, fn: Callable[[], T], *, on_late_result: Callable[[T], None] | None = None
    ) -> T:
        if not self.commit_in_thread:
            return fn()
        assert self._executor is not None
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Stopping: let the transaction in flight finish (it commits rows and watermark together, or
            # neither) rather than abandon it half-way in another thread.
            with contextlib.suppress(Exception):
                result = await future
                if on_late_result is not None:
                    on_late_result(result)
            raise

    def _committed(
        self, batch: list[DecodedCheckpoint], outcome: BatchOutcome, regulator: Regulator
    ) -> None:
        self.committed = outcome.last
        regulator.advance(outcome.last)
        m = self.metrics
        m.set_watermark(outcome.last)
        m.commits.inc()
        m.commit_seconds.observe(outcome.seconds)
        m.checkpoints.inc(amount=len(batch))
        now = time.monotonic()
        for cp in batch:
            m.latency.observe(now - cp.received_at)
            for name, count in cp.event_counts.items():
                m.events.inc(name, amount=count)
            for rejection in cp.rejections:
                m.rejected.inc("unknown_type" if rejection.unknown else "malformed")
        if outcome.builds_changed and self.wakeup is not None:
            self.wakeup.fire()

    async def _progress(self) -> None:
        interval = self.settings.indexer.progress_interval_s
        m = self.metrics
        last_events, last_checkpoints, last_time = (
            m.events.total(),
            m.checkpoints.total(),
            time.monotonic(),
        )
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            events, checkpoints = m.events.total(), m.checkpoints.total()
            elapsed = max(now - last_time, 1e-9)
            lag = m.lag.value()
            log.info(
                "checkpoint %s, lag %s, %.0f events/s, %.1f checkpoints/s, %d rejected, %d reconnects",
                self.committed,
                "?" if lag is None else int(lag),
                (events - last_events) / elapsed,
                (checkpoints - last_checkpoints) / elapsed,
                int(m.rejected.total()),
                int(m.reconnects.total()),
            )
            last_events, last_checkpoints, last_time = events, checkpoints, now
