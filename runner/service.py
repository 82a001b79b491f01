"""The runner service: one task group per process, claiming builds and taking each to one outcome.

```
                          ┌─────────────────────── task group "runner" ───────────────────────┐
 LISTEN/NOTIFY, polling ─▶│ notifications: relays change announcements to an in-process Wakeup │
 (or the indexer's        │ claim:     claim_next (lease + attempt) ─▶ BuildPipeline.run ─▶ ...│─▶ Docker, Walrus, Sui
  in-process Wakeup)      │            woken by announcements, else every poll_interval_s      │
                          │ heartbeat: runner_heartbeats row every heartbeat_s                 │
                          │ periodic:  APScheduler-timed reap / exhausted / reconcile / clean  │
                          │ stop:      on request_stop(): no more claims; the current build    │
                          │            gets grace_period_s to finish, then is given back       │
                          └────────────────────────────────────────────────────────────────────┘
```

A runner runs one build at a time (builds are bound by the Docker daemon; run one runner process per build
slot). Several runner processes share one PostgreSQL database: `claim_next` uses `FOR UPDATE SKIP LOCKED`,
and a runner that dies loses its lease, after which another claims the build (its attempt was counted).
Each process needs its own Sui key (gas coin) and enclave key.

`open_runner(settings)` builds everything from the settings (database, chain client, Walrus client, Docker
executor, attestor, layer cache) and checks that the attestor's enclave can post results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import os
import socket
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import sqlalchemy as sa

from daas.attestation.attestor import Attestor, LocalKeyAttestor, NitroAttestor
from daas.attestation.registration import (
    record_path_for,
    register_attested_enclave,
    resolve_enclave,
)
from daas.build import BuildExecutor, DockerBuildExecutor
from daas.chain.client import RetryPolicy as ChainRetryPolicy
from daas.chain.client import SuiClient
from daas.chain.keys import load_signer
from daas.chain.transactions import DaasPackage, TransactionSubmitter
from daas.config import Settings
from daas.db import migrate
from daas.db.engine import create_engine_for, session_scope
from daas.db.models import Build, now_ms
from daas.db.notify import Listener, Wakeup, open_listener
from daas.db.repos import builds, heartbeats
from daas.errors import ChainError, DatabaseError
from daas.image import ImageExporter
from daas.walrus import RetryPolicy as WalrusRetryPolicy
from daas.walrus import WalrusClient
from daas.walrus.ports import BlobStore
from runner.layer_cache import DbLayerCache
from runner.logfmt import runner_fields
from runner.periodic import PeriodicOptions, PeriodicWork
from runner.pipeline import BuildHandle, BuildPipeline, PipelineDeps, PipelineOptions
from runner.steps.submit import ResultSubmitter

__all__ = ["RunnerOptions", "RunnerService", "default_runner_id", "open_runner"]

log = logging.getLogger("runner")

try:
    VERSION = importlib.metadata.version("daas")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "unknown"


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclasses.dataclass(frozen=True)
class RunnerOptions:
    """Tuning of one runner process beyond `RunnerSettings` (the CLI sets some; tests shorten them)."""

    grace_period_s: float = 30.0
    heartbeat_s: float = 5.0
    # How often SQLite is polled for change announcements (PostgreSQL pushes them).
    notify_poll_s: float = 0.2
    pipeline: PipelineOptions = dataclasses.field(default_factory=PipelineOptions)
    periodic: PeriodicOptions = dataclasses.field(default_factory=PeriodicOptions)


class RunnerService:
    """Runs builds until stopped. `await service.run()`; `request_stop()` from a signal handler."""

    def __init__(self, deps: PipelineDeps, options: RunnerOptions | None = None) -> None:
        self.deps = deps
        self.options = options or RunnerOptions()
        self.runner_id = deps.runner_id
        self.pipeline = BuildPipeline(deps, self.options.pipeline)
        self.periodic = PeriodicWork(deps, self.pipeline, self.options.periodic)
        self.started_at_ms = now_ms()
        self.started = anyio.Event()  # set once every task is up
        self.stopped = anyio.Event()  # set once `run` is over
        self.current: BuildHandle | None = None
        self.finished: list[
            tuple[str, str]
        ] = []  # (request id, outcome) in order, for tests and logs
        self._stop_requested = anyio.Event()
        self._stop_now = anyio.Event()
        self._stopping = False

    # --- control -----------------------------------------------------------------------------------------

    def request_stop(self, *, now: bool = False) -> None:
        """Stop claiming; the current build finishes within the grace period (`now`: is given back at once)."""
        self._stop_requested.set()
        if now:
            self._stop_now.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self, stop: anyio.Event | None = None) -> None:
        """Serve until `request_stop()` (or `stop` is set), then stop gracefully."""
        deps = self.deps
        runner_fields.set({"runner": self.runner_id})
        await anyio.to_thread.run_sync(migrate.ensure_current, deps.engine)
        await anyio.to_thread.run_sync(
            lambda: (deps.settings.work_dir / "builds").mkdir(parents=True, exist_ok=True)
        )
        listener = await open_listener(deps.engine, poll_interval_s=self.options.notify_poll_s)
        log.info("runner %s started (enclave %s)", self.runner_id, deps.enclave_id)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._relay, listener, name="notifications")
                await tg.start(self._heartbeat, name="heartbeat")
                await tg.start(self.periodic.run, name="periodic")
                tg.start_soon(self._watch_stop, name="stop")
                if stop is not None:
                    tg.start_soon(self._stop_on, stop, name="stop-event")
                tg.start_soon(self._claim_loop, tg.cancel_scope, name="claim")
                self.started.set()
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
                with contextlib.suppress(DatabaseError):
                    await anyio.to_thread.run_sync(self._forget)
            self.stopped.set()
        log.info("runner %s stopped", self.runner_id)

    # --- tasks -------------------------------------------------------------------------------------------

    async def _claim_loop(self, service: anyio.CancelScope) -> None:
        listener = self.deps.changes.listener()
        poll_s = self.deps.settings.runner.poll_interval_s
        while not self._stopping:
            try:
                build = await self.claim()
            except DatabaseError as exc:
                log.warning("claiming failed: %s", exc)
                await listener.wait(poll_s)
                continue
            if build is None:
                await listener.wait(poll_s)
                continue
            await self._run_build(build)
        service.cancel()

    async def claim(self) -> Build | None:
        """Lease the oldest claimable build to this runner (its attempt counted), or None."""
        return await anyio.to_thread.run_sync(self._claim)

    def _claim(self) -> Build | None:
        runner = self.deps.settings.runner
        with session_scope(self.deps.engine) as session:
            build = builds.claim_next(
                session,
                owner=self.runner_id,
                lease_ms=runner.lease_s * 1000,
                max_attempts=runner.max_attempts,
            )
            session.commit()  # on PostgreSQL the row stays locked until the claim commits
        return build

    async def _run_build(self, build: Build) -> None:
        handle = BuildHandle(build.request_id)
        self.current = handle
        try:
            with contextlib.suppress(DatabaseError):
                await self._beat()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._stop_when_asked, handle, name=f"grace {build.request_id[:10]}")
                try:
                    outcome = await self.pipeline.run(build, handle)
                    self.finished.append((build.request_id, outcome.value))
                finally:
                    tg.cancel_scope.cancel()
        except Exception:
            # A bug in one build must not take the runner down; the build's lease runs out.
            log.exception("build %s failed unexpectedly", build.request_id)
        finally:
            self.current = None
            with anyio.CancelScope(shield=True), contextlib.suppress(DatabaseError):
                await self._beat()

    async def _stop_when_asked(self, handle: BuildHandle) -> None:
        await self._stop_requested.wait()
        log.info(
            "stop requested: build %s may finish for %gs",
            handle.build_id,
            self.options.grace_period_s,
        )
        with anyio.move_on_after(self.options.grace_period_s):
            await self._stop_now.wait()
        log.info("giving build %s back", handle.build_id)
        handle.stop()

    async def _watch_stop(self) -> None:
        await self._stop_requested.wait()
        self._stopping = True
        self.deps.changes.fire()  # wake the claim loop so it sees `_stopping`

    async def _stop_on(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.request_stop()

    async def _relay(self, listener: Listener) -> None:
        """Cross-process announcements (NOTIFY or polling) become in-process wake-ups."""
        while True:
            try:
                woken = await listener.wait(30.0)
            except DatabaseError as exc:
                log.warning("change notifications interrupted, reconnecting: %s", exc)
                await anyio.sleep(1.0)
                with contextlib.suppress(DatabaseError):
                    await listener.aclose()
                    listener = await open_listener(
                        self.deps.engine, poll_interval_s=self.options.notify_poll_s
                    )
                continue
            if woken:
                self.deps.changes.fire()

    async def _heartbeat(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self._beat()
        task_status.started()
        while True:
            await anyio.sleep(self.options.heartbeat_s)
            try:
                await self._beat()
            except DatabaseError as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _beat(self) -> None:
        current = self.current.build_id if self.current is not None else None

        def beat() -> None:
            with session_scope(self.deps.engine) as session:
                heartbeats.beat(
                    session,
                    self.runner_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    version=VERSION,
                    started_at_ms=self.started_at_ms,
                    current_build=current,
                )
                session.commit()

        await anyio.to_thread.run_sync(beat)

    def _forget(self) -> None:
        with session_scope(self.deps.engine) as session:
            heartbeats.remove(session, self.runner_id)
            session.commit()


# --- assembly ------------------------------------------------------------------------------------------------


async def _enclave_for(
    attestor: Attestor,
    chain: SuiClient,
    package: DaasPackage,
    tx: TransactionSubmitter,
    settings: Settings,
) -> str:
    chain_id = chain.chain_id or ""
    if attestor.debug:
        return await resolve_enclave(
            chain,
            package,
            attestor,
            chain_id=chain_id,
            record_path=record_path_for(settings.enclave_key_file),
        )
    if not isinstance(attestor, NitroAttestor):
        raise TypeError(f"cannot register {attestor!r}: only NitroAttestor is attested")
    # An attested key lives as long as the process: every start registers a new enclave.
    document = await anyio.to_thread.run_sync(attestor.attestation_document)
    record = await register_attested_enclave(
        tx, package, document=document, public_key=attestor.public_key, chain_id=chain_id
    )
    return record.enclave_id


@contextlib.asynccontextmanager
async def open_runner(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    changes: Wakeup | None = None,
    options: RunnerOptions | None = None,
    attestor: Attestor | None = None,
    executor: BuildExecutor | None = None,
    store: BlobStore | None = None,
    runner_id: str | None = None,
    chain_retry: ChainRetryPolicy | None = None,
    walrus_retry: WalrusRetryPolicy | None = None,
) -> AsyncIterator[RunnerService]:
    """A `RunnerService` with everything it needs built from `settings`, closed on exit.

    `changes` is the in-process Wakeup an indexer in the same process fires (`daas dev`); `attestor`
    defaults to the `LocalKeyAttestor` of `keys.enclave_key_file`. Raises `ConfigError` when the package ids
    are not set or the attestor's enclave cannot post results.
    """
    package = DaasPackage.from_settings(settings.chain)
    signer = load_signer(settings.keys)
    if attestor is None:
        attestor = await anyio.to_thread.run_sync(
            LocalKeyAttestor.load_or_create, settings.enclave_key_file
        )
    async with contextlib.AsyncExitStack() as stack:
        if engine is None:
            engine = create_engine_for(settings.effective_database_url)
            stack.callback(engine.dispose)
        chain = SuiClient.from_settings(settings)
        if chain_retry is not None:
            chain.retry = chain_retry
        await stack.enter_async_context(chain)
        if chain.chain_id is None:
            raise ChainError("the chain client connected without learning the chain id")
        if store is None:
            store = await stack.enter_async_context(
                WalrusClient.from_settings(settings, retry=walrus_retry)
            )
        if executor is None:
            docker = DockerBuildExecutor.from_settings(settings)
            stack.push_async_callback(docker.aclose)
            await docker.connect()
            executor = docker
        tx = TransactionSubmitter(chain, signer, gas_budget=settings.chain.gas_budget)
        enclave_id = await _enclave_for(attestor, chain, package, tx, settings)
        work_dir = settings.work_dir
        await anyio.to_thread.run_sync(lambda: work_dir.mkdir(parents=True, exist_ok=True))
        deps = PipelineDeps(
            settings=settings,
            engine=engine,
            store=store,
            executor=executor,
            exporter=ImageExporter.from_settings(settings, store, DbLayerCache(engine)),
            attestor=attestor,
            package=package,
            submitter=ResultSubmitter(chain, tx, enclave_id=enclave_id),
            runner_id=runner_id or settings.runner.runner_id or default_runner_id(),
            changes=changes or Wakeup(),
        )
        yield RunnerService(deps, options)
