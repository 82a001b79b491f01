"""Periodic work, timed by APScheduler and run inside the runner's task group.

APScheduler 3's `AsyncIOScheduler` only decides *when*: each job it fires hands a job name to a bounded
stream (a job already waiting is not queued twice), and the `periodic` task of the service runs the jobs one
after another. So the work itself is structured (cancelled with the service, errors logged, never lost in a
task nobody awaits). Every job runs once at start, which reaps what a previous run left behind.

- `reap` (every lease / 2): clear expired leases; builds shown in an active step without a live lease go
  back to `queued`, with a `step` event.
- `exhausted` (every lease): builds whose attempts are used up and that nobody holds: lease one, post `fail`
  with ATTEMPTS_EXHAUSTED (the requester is refunded).
- `reconcile` (every `reconcile_interval_s`): builds marked `done` but still PENDING after
  `unconfirmed_after_s`: if the chain says PENDING too, the result never landed, and the build is reopened.
- `clean_up` (every `cleanup_interval_s`): untagged images of failed builds older than twice the build
  timeout, and stale build directories.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from daas.chain.codecs import RequestStatus
from daas.db import notify
from daas.db.engine import session_scope
from daas.db.models import Build, BuildStep, EventKind
from daas.db.repos import builds, events, leases
from daas.errors import DaasError
from runner.pipeline import BuildPipeline, PipelineDeps

__all__ = ["PeriodicOptions", "PeriodicWork"]

log = logging.getLogger("runner.periodic")

Job = Callable[[], Awaitable[None]]


@runtime_checkable
class _PrunesLeftovers(Protocol):
    async def prune_leftovers(self, older_than_s: float) -> int: ...


@dataclasses.dataclass(frozen=True)
class PeriodicOptions:
    reap_interval_s: float | None = None  # default: lease / 2
    exhausted_interval_s: float | None = None  # default: lease
    reconcile_interval_s: float = 60.0
    # A result is normally indexed within seconds; after this long without it, the chain is asked.
    unconfirmed_after_s: float = 300.0
    cleanup_interval_s: float = 600.0


class PeriodicWork:
    """The runner's periodic jobs; `run` is a task of the service's task group."""

    def __init__(
        self, deps: PipelineDeps, pipeline: BuildPipeline, options: PeriodicOptions
    ) -> None:
        self.deps = deps
        self.pipeline = pipeline
        self.options = options
        lease_s = float(deps.settings.runner.lease_s)
        self.jobs: dict[str, tuple[Job, float]] = {
            "reap": (self.reap, options.reap_interval_s or lease_s / 2),
            "exhausted": (self.settle_exhausted, options.exhausted_interval_s or lease_s),
            "reconcile": (self.reconcile, options.reconcile_interval_s),
            "clean_up": (self.clean_up, options.cleanup_interval_s),
        }
        self._waiting: set[str] = set()
        self.runs: dict[str, int] = dict.fromkeys(self.jobs, 0)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        send, receive = anyio.create_memory_object_stream[str](len(self.jobs))
        scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = dt.datetime.now(dt.UTC)
        for name, (_job, interval) in self.jobs.items():
            scheduler.add_job(
                self._due,
                "interval",
                seconds=interval,
                args=(send, name),
                id=name,
                name=name,
                next_run_time=now,
            )
        scheduler.start()
        task_status.started()
        try:
            with receive:
                async for name in receive:
                    self._waiting.discard(name)
                    await self.run_job(name)
        finally:
            scheduler.shutdown(wait=False)
            send.close()

    async def run_job(self, name: str) -> None:
        """Run one job now; its errors are logged, never raised."""
        job, _interval = self.jobs[name]
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", name)
        self.runs[name] += 1

    async def _due(self, send: MemoryObjectSendStream[str], name: str) -> None:
        # Runs in a task APScheduler creates: it only hands the name over, never does the work.
        if name in self._waiting:
            return
        try:
            send.send_nowait(name)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        self._waiting.add(name)

    # --- jobs ----------------------------------------------------------------------------------------------

    async def reap(self) -> None:
        reaped, requeued = await anyio.to_thread.run_sync(self._reap)
        if reaped or requeued:
            log.info(
                "reaped %d expired lease(s); %d build(s) back in the queue",
                len(reaped),
                len(requeued),
            )

    def _reap(self) -> tuple[list[str], list[str]]:
        with session_scope(self.deps.engine) as session:
            reaped = builds.reap_expired_leases(session)
            requeued = leases.requeue_abandoned(session)
            for build_id in requeued:
                events.append(
                    session,
                    build_id,
                    EventKind.STEP,
                    {
                        "step": BuildStep.QUEUED.value,
                        "reason": "lease expired",
                        "runner": self.deps.runner_id,
                    },
                )
            if requeued:
                notify.publish(session)
            session.commit()
        return reaped, requeued

    async def settle_exhausted(self) -> None:
        """Fail each build out of attempts, once per run (one that cannot be posted waits for the next)."""
        tried: set[str] = set()
        while True:
            build = await anyio.to_thread.run_sync(self._take_exhausted, tried)
            if build is None:
                return
            tried.add(build.request_id)
            log.warning(
                "build %s used all %d attempts: failing it", build.request_id, build.attempts
            )
            await self.pipeline.run(build, exhausted=True)

    def _take_exhausted(self, tried: set[str]) -> Build | None:
        runner = self.deps.settings.runner
        with session_scope(self.deps.engine) as session:
            for candidate in builds.exhausted(session, max_attempts=runner.max_attempts, limit=50):
                if candidate.request_id in tried:
                    continue
                taken = leases.take(
                    session,
                    candidate.request_id,
                    owner=self.deps.runner_id,
                    lease_ms=runner.lease_s * 1000,
                )
                if taken is not None:
                    session.commit()
                    return taken
        return None

    async def reconcile(self) -> None:
        older_than_ms = int(self.options.unconfirmed_after_s * 1000)

        def unconfirmed() -> list[Build]:
            with session_scope(self.deps.engine) as session:
                return leases.unconfirmed(session, older_than_ms=older_than_ms)

        for build in await anyio.to_thread.run_sync(unconfirmed):
            try:
                request = await self.deps.submitter.request(build.request_id)
            except DaasError as exc:
                log.warning("cannot check %s on chain: %s", build.request_id, exc)
                continue
            if request.status != RequestStatus.PENDING:
                log.info(
                    "build %s is settled on chain (status %d); the indexer has not caught up",
                    build.request_id,
                    request.status,
                )
                continue
            if await anyio.to_thread.run_sync(self._reopen, build.request_id):
                log.warning(
                    "build %s was marked done but has no result on chain: reopened",
                    build.request_id,
                )

    def _reopen(self, build_id: str) -> bool:
        with session_scope(self.deps.engine) as session:
            if not leases.reopen(session, build_id):
                return False
            events.append(
                session,
                build_id,
                EventKind.STEP,
                {
                    "step": BuildStep.QUEUED.value,
                    "reason": "no result on chain",
                    "runner": self.deps.runner_id,
                },
            )
            notify.publish(session)
            session.commit()
            return True

    async def clean_up(self) -> None:
        older_than_s = 2.0 * self.deps.settings.runner.build_timeout_s
        executor = self.deps.executor
        if isinstance(executor, _PrunesLeftovers):
            try:
                pruned = await executor.prune_leftovers(older_than_s)
            except DaasError as exc:
                log.warning("cannot prune leftover images: %s", exc)
            else:
                if pruned:
                    log.info("pruned %d leftover image(s)", pruned)
        removed = await anyio.to_thread.run_sync(
            _remove_stale_dirs, self.deps.settings.work_dir / "builds", older_than_s
        )
        if removed:
            log.info("removed %d stale build director(ies)", removed)


def _remove_stale_dirs(root: Path, older_than_s: float) -> int:
    """Build directories untouched for `older_than_s` (their runner died): a running build is younger."""
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in root.iterdir():
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed
