"""`BuildPipeline`: one claimed build, from the lease to its one outcome.

```
 claimed build ─▶ lease keeper (renews every lease/2; cancels the work on BuildCancelled or a lost lease)
                  log flusher  (numbered lines to the database in small batches)
                  work scope:  preflight (request still PENDING on chain?)
                               fetching ─▶ building ─▶ exporting ─▶ attesting          (success)
                               any RequesterFault ─────▶ exporting (log) ─▶ attesting  (fail, 1xx)
                               InfrastructureFault: attempts left ─▶ back to the queue (retry)
                                                    last attempt ──▶ exporting (log) ─▶ attesting (fail, 2xx)
                  shielded:    submitting (status read on chain, then `complete` / `fail`, bounded in time)
                               the outcome: step done|queued, a last step event, lease released
```

Each step is a `runner.steps` module; `BuildRecorder` writes the step events, `BuildLog` the log. Cancelling the
work (the keeper, or the service stopping the runner) removes the build's containers and image through the
executor; a submission that started is allowed to finish, since its outcome must be known. Whatever happens,
exactly one `Outcome` is recorded, under a shield.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

from daas.attestation.attestor import Attestor
from daas.build import BuildExecutor, BuildLimits, BuiltImage
from daas.bundle import BundleLimits
from daas.chain.codecs import RequestStatus
from daas.chain.transactions import DaasPackage
from daas.config import Settings
from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, Build, BuildLogLine, BuildStep
from daas.db.notify import Wakeup
from daas.db.repos import logs
from daas.errors import (
    BuildError,
    BuildFailureCode,
    ChainError,
    DaasError,
    DatabaseError,
    InfrastructureFault,
    RequesterFault,
)
from daas.image import ImageExporter
from daas.image.index import INDEX_MEDIA_TYPE
from daas.walrus.ports import BlobStore
from runner.buildlog import BuildLog
from runner.lease import LeaseKeeper
from runner.logfmt import build_fields
from runner.outcome import Outcome, SignedResult
from runner.recorder import Artifact, BuildRecorder, LeaseLost
from runner.steps.attest import sign_failure, sign_success
from runner.steps.build import build_image
from runner.steps.export import (
    StoredArtifact,
    kubernetes_yaml,
    store_kubernetes,
    store_log,
)
from runner.steps.fetch import fetch_bundle
from runner.steps.submit import ResultSubmitter

__all__ = ["BuildHandle", "BuildPipeline", "PipelineDeps", "PipelineOptions"]

log = logging.getLogger("runner.pipeline")

Details = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """Tuning that is not a deployment setting (tests shorten it)."""

    # Before giving a build back after an infrastructure fault: base * 2**(attempt - 1), capped.
    retry_backoff_s: float = 2.0
    retry_backoff_max_s: float = 30.0
    # How long a signed result may take to reach the chain before the build is given back.
    submit_timeout_s: float = 120.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.retry_backoff_max_s, self.retry_backoff_s * 2 ** max(0, attempt - 1)))


@dataclasses.dataclass(frozen=True)
class PipelineDeps:
    """What a build needs, built once per runner process (see `runner.service.open_runner`)."""

    settings: Settings
    engine: sa.Engine
    store: BlobStore
    executor: BuildExecutor
    exporter: ImageExporter
    attestor: Attestor
    package: DaasPackage
    submitter: ResultSubmitter
    runner_id: str
    changes: Wakeup

    @property
    def enclave_id(self) -> str:
        return self.submitter.enclave_id


class BuildHandle:
    """The service's grip on the build in progress: `stop()` cancels its work, `done` is set at the end."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        self.work = anyio.CancelScope()
        self.stopped = False
        self.done = anyio.Event()
        self.outcome: Outcome | None = None

    def stop(self) -> None:
        self.stopped = True
        self.work.cancel()


class BuildPipeline:
    def __init__(self, deps: PipelineDeps, options: PipelineOptions | None = None) -> None:
        self.deps = deps
        self.options = options or PipelineOptions()

    async def run(
        self, build: Build, handle: BuildHandle | None = None, *, exhausted: bool = False
    ) -> Outcome:
        """Take the leased `build` to one outcome. `exhausted`: fail it at once (attempts used up)."""
        deps = self.deps
        handle = handle or BuildHandle(build.request_id)
        short = build.request_id[:10]
        # Until an outcome is known, leaving (a cancelled service, a bug) gives the build back.
        outcome: Outcome = Outcome.STOPPED
        details: Details = {}
        fields = build_fields.set({"build": build.request_id, "attempt": build.attempts})
        try:
            build_log = await BuildLog.open(deps.engine, build.request_id)
            recorder = BuildRecorder(deps.engine, build, deps.runner_id)
            keeper = LeaseKeeper(
                deps.engine,
                build.request_id,
                owner=deps.runner_id,
                lease_ms=deps.settings.runner.lease_s * 1000,
                changes=deps.changes,
            )
            log.info(
                "build %s: attempt %d of %d",
                build.request_id,
                build.attempts,
                deps.settings.runner.max_attempts,
            )
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(build_log.run, name=f"log {short}")
                    tg.start_soon(keeper.run, handle.work, name=f"lease {short}")
                    try:
                        outcome, details = await self._attempt(
                            build, handle, keeper, recorder, build_log, exhausted
                        )
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    outcome = await self._record(build, outcome, details, recorder, build_log)
        finally:
            handle.outcome = outcome
            handle.done.set()
            log.info(
                "build %s ended: %s",
                build.request_id,
                outcome.value,
                extra={"outcome": outcome.value, **details},
            )
            build_fields.reset(fields)
        return outcome

    async def _record(
        self,
        build: Build,
        outcome: Outcome,
        details: Details,
        recorder: BuildRecorder,
        build_log: BuildLog,
    ) -> Outcome:
        """Write the outcome (call under a shield); LEASE_LOST if the lease went meanwhile."""
        if outcome is Outcome.LEASE_LOST:
            return outcome
        await build_log.system(f"attempt {build.attempts} ended: {outcome.value}")
        await build_log.close()
        try:
            if not await recorder.finish(outcome, details):
                return Outcome.LEASE_LOST
        except DatabaseError as exc:
            # The lease expires by itself; the next claimer finds the build as we left it.
            log.error("build %s: could not record %s: %s", build.request_id, outcome.value, exc)
        return outcome

    async def _attempt(
        self,
        build: Build,
        handle: BuildHandle,
        keeper: LeaseKeeper,
        recorder: BuildRecorder,
        build_log: BuildLog,
        exhausted: bool,
    ) -> tuple[Outcome, Details]:
        produced: SignedResult | tuple[Outcome, Details] = (Outcome.STOPPED, {})
        try:
            with handle.work:
                produced = await self._produce(build, recorder, build_log, exhausted)
            if handle.work.cancelled_caught:
                reason = keeper.reason or Outcome.STOPPED
                await build_log.system(f"stopped: {reason.value}")
                return reason, {}
            if not isinstance(produced, SignedResult):
                return produced
            # A submission that starts always finishes (bounded by submit_timeout_s): its outcome decides
            # whether the build is done, so neither a stop nor a cancellation may cut it short.
            with anyio.CancelScope(shield=True):
                submitted = await self._submit(build, produced, recorder, build_log)
        except LeaseLost as exc:
            return Outcome.LEASE_LOST, {"error": str(exc)}
        return submitted

    # --- producing a signed result ---------------------------------------------------------------------------

    async def _produce(
        self, build: Build, recorder: BuildRecorder, build_log: BuildLog, exhausted: bool
    ) -> SignedResult | tuple[Outcome, Details]:
        try:
            if exhausted:
                fault = InfrastructureFault(
                    BuildFailureCode.ATTEMPTS_EXHAUSTED,
                    f"all {build.attempts} attempts ended without a result",
                )
                return await self._failed(build, fault, recorder, build_log)
            request = await self.deps.submitter.request(build.request_id)
            if request.status != RequestStatus.PENDING:
                outcome = (
                    Outcome.CANCELLED
                    if request.status == RequestStatus.CANCELLED
                    else Outcome.SETTLED_ELSEWHERE
                )
                await build_log.system(f"the request is already settled on chain: {outcome.value}")
                return outcome, {}
            return await self._build_with_faults(build, recorder, build_log)
        except LeaseLost:
            raise
        except ChainError as exc:
            # Reading the request (or something below) failed: not the requester's fault, try again later.
            return await self._infrastructure(
                build,
                InfrastructureFault(BuildFailureCode.CHAIN_UNAVAILABLE, str(exc)),
                recorder,
                build_log,
            )
        except Exception as exc:
            # Even recording a failure failed (database, Walrus and chain all down?): give the build back.
            log.exception("build %s: could not produce a result", build.request_id)
            return Outcome.RETRY, {"error": str(exc) or type(exc).__name__}

    async def _build_with_faults(
        self, build: Build, recorder: BuildRecorder, build_log: BuildLog
    ) -> SignedResult | tuple[Outcome, Details]:
        work_dir = self._work_dir(build)
        try:
            try:
                return await self._succeed(build, recorder, build_log, work_dir)
            except RequesterFault as fault:
                return await self._failed(build, fault, recorder, build_log)
            except InfrastructureFault as infra:
                return await self._infrastructure(build, infra, recorder, build_log)
            except LeaseLost:
                raise
            except (DaasError, OSError) as exc:
                internal = InfrastructureFault(BuildFailureCode.INTERNAL, str(exc))
                return await self._infrastructure(build, internal, recorder, build_log)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(work_dir, ignore_errors=True))

    def _work_dir(self, build: Build) -> Path:
        root = self.deps.settings.work_dir / "builds"
        path = root / f"{build.request_id[2:18]}-a{build.attempts}-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path

    async def _succeed(
        self, build: Build, recorder: BuildRecorder, build_log: BuildLog, work_dir: Path
    ) -> SignedResult:
        deps = self.deps
        runner = deps.settings.runner
        async with recorder.step(BuildStep.FETCHING) as step:
            await build_log.system(
                f"fetching bundle {build.source_blob_id} (sha256 {build.source_sha256})"
            )
            unpacked = await fetch_bundle(
                deps.store,
                build,
                limits=BundleLimits.from_settings(runner),
                work_dir=work_dir,
            )
            step.details.update(files=unpacked.file_count, unpacked_bytes=unpacked.unpacked_bytes)
        async with recorder.step(BuildStep.BUILDING) as step:
            await build_log.system(f"building {unpacked.dockerfile} for {build.platform}")
            built = await build_image(
                deps.executor,
                build,
                unpacked,
                limits=BuildLimits.from_settings(runner),
                on_log_line=build_log.line,
            )
            step.details.update(
                image_id=built.image_id, image_bytes=built.size, layers=len(built.diff_ids)
            )
        removed = False

        async def remove_image() -> None:
            nonlocal removed
            await self._remove_image(built)
            removed = True

        try:
            async with recorder.step(BuildStep.EXPORTING) as step:
                exported = await deps.exporter.export(deps.executor, built)
                await build_log.system(
                    f"image {exported.manifest_digest} stored: index blob {exported.index_blob_id}"
                )
                # The local image is no longer needed, and the Kubernetes manifest and the log go to Walrus
                # independently: all three at once, then the artifacts' rows in one transaction.
                text = kubernetes_yaml(
                    deps.settings, build.request_id, exported.manifest_digest, unpacked.config
                )
                kubernetes, stored_log, _ = await _concurrently(
                    lambda: store_kubernetes(deps.store, text),
                    lambda: self._store_log_blob(build, build_log, required=True),
                    remove_image,
                )
                index_bytes = exported.index.to_bytes()
                await recorder.artifacts(
                    [
                        Artifact(
                            ArtifactKind.IMAGE_INDEX,
                            exported.index_blob_id,
                            hashlib.sha256(index_bytes).digest(),
                            len(index_bytes),
                            INDEX_MEDIA_TYPE,
                        ),
                        Artifact(
                            ArtifactKind.KUBERNETES,
                            kubernetes.blob_id,
                            kubernetes.sha256,
                            kubernetes.size,
                            kubernetes.media_type,
                            text,
                        ),
                        _log_artifact(stored_log),
                    ]
                )
                step.details.update(
                    manifest_digest=exported.manifest_digest,
                    index_blob_id=exported.index_blob_id,
                    kubernetes_blob_id=kubernetes.blob_id,
                    new_layers=exported.new_layers,
                    reused_layers=exported.reused_layers,
                    stored_bytes=exported.stored_bytes,
                    reused_bytes=exported.reused_bytes,
                    log_blob_id=stored_log.blob_id,
                    log_lines=stored_log.lines,
                )
        finally:
            if not removed:
                with anyio.CancelScope(shield=True):
                    await self._remove_image(built)
        async with recorder.step(BuildStep.ATTESTING):
            return sign_success(
                deps.attestor,
                deps.package,
                deps.enclave_id,
                build,
                manifest_digest=exported.manifest_digest,
                index_blob_id=exported.index_blob_id,
                log=stored_log,
            )

    async def _remove_image(self, built: BuiltImage) -> None:
        try:
            await self.deps.executor.remove(built)
        except BuildError as exc:
            # The periodic clean-up prunes what is left.
            log.warning("could not remove %s: %s", built.tag, exc)

    async def _store_log_blob(
        self, build: Build, build_log: BuildLog, *, required: bool
    ) -> StoredArtifact:
        """Every line written so far, stored on Walrus (see `store_log` for `required`)."""
        await build_log.flush()
        lines = await anyio.to_thread.run_sync(self._read_log, build.request_id)
        return await store_log(
            self.deps.store,
            lines,
            max_bytes=self.deps.settings.walrus.max_request_bytes,
            required=required,
        )

    async def _store_log(
        self, build: Build, build_log: BuildLog, recorder: BuildRecorder, *, required: bool
    ) -> StoredArtifact:
        stored = await self._store_log_blob(build, build_log, required=required)
        if stored.blob_id:
            await recorder.artifacts([_log_artifact(stored)])
        return stored

    def _read_log(self, build_id: str) -> list[BuildLogLine]:
        with session_scope(self.deps.engine) as session:
            return logs.read(session, build_id)

    # --- failures ----------------------------------------------------------------------------------------------

    async def _infrastructure(
        self,
        build: Build,
        fault: InfrastructureFault,
        recorder: BuildRecorder,
        build_log: BuildLog,
    ) -> SignedResult | tuple[Outcome, Details]:
        """Give the build back for another attempt, or fail it on chain on the last one."""
        max_attempts = self.deps.settings.runner.max_attempts
        if build.attempts >= max_attempts:
            return await self._failed(build, fault, recorder, build_log)
        delay = self.options.backoff(build.attempts)
        await build_log.system(
            f"infrastructure fault on attempt {build.attempts} of {max_attempts} "
            f"({fault.code.name}): {fault}; the build is given back in {delay:g} s"
        )
        log.warning("build %s: %s (%s)", build.request_id, fault, fault.code.name)
        await anyio.sleep(delay)
        return Outcome.RETRY, {"error_code": int(fault.code), "error": str(fault)}

    async def _failed(
        self, build: Build, fault: BuildError, recorder: BuildRecorder, build_log: BuildLog
    ) -> SignedResult:
        """Sign a `fail` result with the fault's code, the log stored as far as Walrus allows."""
        await build_log.system(f"build failed: {fault.code.name} ({int(fault.code)}): {fault}")
        async with recorder.step(BuildStep.EXPORTING) as step:
            stored_log = await self._store_log(build, build_log, recorder, required=False)
            step.details.update(log_blob_id=stored_log.blob_id, log_lines=stored_log.lines)
        async with recorder.step(BuildStep.ATTESTING) as step:
            step.details.update(error_code=int(fault.code))
            return sign_failure(
                self.deps.attestor,
                self.deps.package,
                self.deps.enclave_id,
                build,
                code=fault.code,
                log=stored_log,
            )

    # --- submitting --------------------------------------------------------------------------------------------

    async def _submit(
        self, build: Build, signed: SignedResult, recorder: BuildRecorder, build_log: BuildLog
    ) -> tuple[Outcome, Details]:
        details: Details = {}
        if signed.error_code is not None:
            details["error_code"] = signed.error_code
        try:
            async with recorder.step(BuildStep.SUBMITTING) as step:
                posted = await self.deps.submitter.post(
                    signed, timeout_s=self.options.submit_timeout_s
                )
                step.details.update(outcome=posted.outcome.value, tx_digest=posted.tx_digest)
        except ChainError as exc:
            # SubmissionRefused (an abort retrying cannot fix) or a node error outside the transient ones.
            log.error("build %s: %s", build.request_id, exc)
            await build_log.system(f"the result was not posted: {exc}")
            return Outcome.UNSUBMITTED, {**details, "error": str(exc)}
        if posted.tx_digest is not None:
            details["tx_digest"] = posted.tx_digest
        what = "complete" if signed.succeeded else "fail"
        if posted.tx_digest is not None:
            await build_log.system(f"{what} posted in transaction {posted.tx_digest}")
        else:
            await build_log.system(f"{what} not posted: {posted.outcome.value}")
        return posted.outcome, details


def _log_artifact(stored: StoredArtifact) -> Artifact:
    return Artifact(ArtifactKind.LOG, stored.blob_id, stored.sha256, stored.size, stored.media_type)


A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


async def _concurrently(
    first: Callable[[], Awaitable[A]],
    second: Callable[[], Awaitable[B]],
    third: Callable[[], Awaitable[C]],
) -> tuple[A, B, C]:
    """Run three calls at once; the first failure is raised as itself (not in a group), the others cancelled."""
    results: list[Any] = [None, None, None]
    failures: list[Exception] = []

    async with anyio.create_task_group() as tg:

        async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
            try:
                results[index] = await call()
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for index, call in enumerate((first, second, third)):
            tg.start_soon(run, index, call)
    if failures:
        raise failures[0]
    return results[0], results[1], results[2]
