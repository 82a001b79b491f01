"""`LeaseKeeper`: holds a claimed build's lease and stops the build the moment it must stop.

It runs beside the build's work, in the same task group, and cancels the work's scope when

- the request is no longer PENDING in the database (the indexer wrote `CANCELLED`, or another runner's
  result): checked at every change announcement, so a `BuildCancelled` stops the build within the
  notification latency (LISTEN/NOTIFY, an in-process wake-up, or the SQLite poll), not at the next renewal;
- renewing fails: `renew_lease` is refused (another runner took the lease after ours expired, or the build
  is final), or the database stays unreachable until our lease would have run out.

Renewal happens every `lease / 2`. `reason` then says why the work was stopped.
"""

from __future__ import annotations

import logging
import time

import anyio
import sqlalchemy as sa

from daas.db.engine import session_scope
from daas.db.models import BuildStatus
from daas.db.notify import Wakeup
from daas.db.repos import builds
from daas.errors import DatabaseError
from runner.outcome import Outcome

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)

# Do not let the lease come closer than this to its end without a successful renewal.
_SAFETY_S = 1.0
_DB_RETRY_S = 1.0


class LeaseKeeper:
    """Renews `owner`'s lease on `build_id`; cancels the given scope when the build must stop."""

    def __init__(
        self,
        engine: sa.Engine,
        build_id: str,
        *,
        owner: str,
        lease_ms: int,
        changes: Wakeup,
    ) -> None:
        self._engine = engine
        self.build_id = build_id
        self.owner = owner
        self.lease_ms = lease_ms
        self._changes = changes
        self.reason: Outcome | None = None
        self.renewals = 0

    async def run(self, work: anyio.CancelScope) -> None:
        """Keep the lease until cancelled; on a stop condition set `reason`, cancel `work` and return."""
        listener = self._changes.listener()
        lease_s = self.lease_ms / 1000
        expires = time.monotonic() + lease_s  # the lease was taken (or renewed) just before this
        next_renewal = time.monotonic() + lease_s / 2
        while True:
            woken = await listener.wait(max(0.0, next_renewal - time.monotonic()))
            if woken:
                reason = await self._check_status()
                if reason is not None:
                    return self._stop(work, reason)
            if time.monotonic() < next_renewal:
                continue
            try:
                renewed = await anyio.to_thread.run_sync(self._renew)
            except DatabaseError as exc:
                if time.monotonic() >= expires - _SAFETY_S:
                    log.error("cannot renew the lease of %s in time: %s", self.build_id, exc)
                    return self._stop(work, Outcome.LEASE_LOST)
                log.warning("renewing the lease of %s failed, retrying: %s", self.build_id, exc)
                next_renewal = time.monotonic() + _DB_RETRY_S
                continue
            if not renewed:
                reason = await self._check_status()
                return self._stop(work, reason or Outcome.LEASE_LOST)
            self.renewals += 1
            expires = time.monotonic() + lease_s
            next_renewal = time.monotonic() + lease_s / 2

    def _stop(self, work: anyio.CancelScope, reason: Outcome) -> None:
        log.info("stopping build %s: %s", self.build_id, reason.value)
        self.reason = reason
        work.cancel()

    async def _check_status(self) -> Outcome | None:
        """None while the build is PENDING; else why it must stop."""
        try:
            status = await anyio.to_thread.run_sync(self._status)
        except DatabaseError as exc:
            log.warning("cannot read the status of %s: %s", self.build_id, exc)
            return None
        if status is None or status is BuildStatus.PENDING:
            return None
        if status is BuildStatus.CANCELLED:
            return Outcome.CANCELLED
        return Outcome.SETTLED_ELSEWHERE

    def _status(self) -> BuildStatus | None:
        with session_scope(self._engine) as session:
            build = builds.get(session, self.build_id)
            return None if build is None else build.status

    def _renew(self) -> bool:
        with session_scope(self._engine) as session:
            renewed = builds.renew_lease(
                session, self.build_id, owner=self.owner, lease_ms=self.lease_ms
            )
            session.commit()
            return renewed
