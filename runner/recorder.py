"""`BuildRecorder`: what the runner writes about one claimed build, besides its log.

- Steps: entering a step sets `builds.step` (only while this runner holds the lease: otherwise `LeaseLost`)
  and appends a `step` event; leaving it appends another with the timing. Payloads::

      {"step": "building", "phase": "started", "started_ms": ..., "attempt": 1, "runner": "host-42"}
      {"step": "building", "phase": "finished", "started_ms": ..., "finished_ms": ...,
       "duration_ms": ..., "ok": true, "attempt": 1, "runner": "host-42", ...step details}

- Artifacts: the blobs stored for the build (`build_artifacts`).
- The end: one transaction sets the step to `done` (finished) or `queued` (given back), appends a last `step`
  event (`{"step": "done" | "queued", "outcome": ..., ...}`) and releases the lease.

Every write commits at once with a notification, so the API's SSE feeds see each step as it happens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import sqlalchemy as sa

from daas.db import notify
from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, Build, BuildStep, EventKind, now_ms
from daas.db.repos import artifacts, builds, events
from daas.errors import DatabaseError
from runner.outcome import Outcome

__all__ = ["Artifact", "BuildRecorder", "LeaseLost", "StepRecord"]

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This runner no longer holds the build's lease: stop, post nothing, write nothing more."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A blob stored for the build (`build_artifacts`)."""

    kind: ArtifactKind
    blob_id: str
    sha256: bytes
    size: int
    media_type: str
    content: str | None = None


@dataclasses.dataclass
class StepRecord:
    step: BuildStep
    started_ms: int
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None


class BuildRecorder:
    """Database writes for one claimed build by `runner_id` (blocking work runs in worker threads)."""

    def __init__(self, engine: sa.Engine, build: Build, runner_id: str) -> None:
        self._engine = engine
        self.build_id = build.request_id
        self.attempt = build.attempts
        self.runner_id = runner_id

    def _base(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "runner": self.runner_id}

    @contextlib.asynccontextmanager
    async def step(self, step: BuildStep) -> AsyncIterator[StepRecord]:
        """Record entering and leaving `step`; add timing-free details to the record's `details`."""
        record = StepRecord(step, now_ms())
        entered = await anyio.to_thread.run_sync(self._enter, record)
        if not entered:
            raise LeaseLost(f"lost the lease of {self.build_id} before {step.value}")
        try:
            yield record
        except BaseException as exc:
            record.error = _describe(exc)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await anyio.to_thread.run_sync(self._leave, record)
                except DatabaseError as exc:
                    log.warning("could not record the end of %s: %s", step.value, exc)

    def _enter(self, record: StepRecord) -> bool:
        payload = {
            "step": record.step.value,
            "phase": "started",
            "started_ms": record.started_ms,
            **self._base(),
        }
        with session_scope(self._engine) as session:
            if not builds.set_step(session, self.build_id, record.step, owner=self.runner_id):
                return False
            events.append(session, self.build_id, EventKind.STEP, payload)
            notify.publish(session, payload=self.build_id)
            session.commit()
        return True

    def _leave(self, record: StepRecord) -> None:
        finished = now_ms()
        payload: dict[str, Any] = {
            "step": record.step.value,
            "phase": "finished",
            "started_ms": record.started_ms,
            "finished_ms": finished,
            "duration_ms": finished - record.started_ms,
            "ok": record.error is None,
            **self._base(),
            **record.details,
        }
        if record.error is not None:
            payload["error"] = record.error
        with session_scope(self._engine) as session:
            events.append(session, self.build_id, EventKind.STEP, payload)
            notify.publish(session, payload=self.build_id)
            session.commit()

    async def artifact(
        self,
        kind: ArtifactKind,
        *,
        blob_id: str,
        sha256: bytes,
        size: int,
        media_type: str,
        content: str | None = None,
    ) -> None:
        await self.artifacts([Artifact(kind, blob_id, sha256, size, media_type, content)])

    async def artifacts(self, items: Sequence[Artifact]) -> None:
        """Record several artifacts in one transaction."""

        def write() -> None:
            with session_scope(self._engine) as session:
                for item in items:
                    artifacts.put(
                        session,
                        self.build_id,
                        item.kind,
                        blob_id=item.blob_id,
                        sha256=item.sha256.hex(),
                        size=item.size,
                        media_type=item.media_type,
                        content=item.content,
                    )
                session.commit()

        await anyio.to_thread.run_sync(write)

    async def finish(self, outcome: Outcome, details: dict[str, Any]) -> bool:
        """Record how the build ended for us and release the lease; False if the lease was lost."""
        if outcome is Outcome.LEASE_LOST:
            return False
        step = BuildStep.DONE if outcome.finishes else BuildStep.QUEUED
        payload = {"step": step.value, "outcome": outcome.value, **self._base(), **details}

        def write() -> bool:
            with session_scope(self._engine) as session:
                if not builds.set_step(session, self.build_id, step, owner=self.runner_id):
                    return False
                events.append(session, self.build_id, EventKind.STEP, payload)
                builds.release_lease(session, self.build_id, owner=self.runner_id)
                notify.publish(session, payload=self.build_id)
                session.commit()
                return True

        return await anyio.to_thread.run_sync(write)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    return str(exc) or type(exc).__name__
