"""Runner housekeeping on build rows, beyond claiming (`repos.builds`): settling, requeueing, reopening.

- `take`: lease one named build without counting an attempt, so exactly one runner settles a build that
  used up its attempts (`builds.exhausted` lists them; `builds.claim_next` never returns them).
- `requeue_abandoned`: a build shown in an active step whose lease nobody holds (its runner died, or the
  lease was reaped) goes back to `queued`, so the step the API shows is not a lie.
- `unconfirmed` / `reopen`: a build a runner marked `done` (result submitted) that is still PENDING long
  after; if the chain agrees it is still pending, the result never landed and the build is reopened.

Every update repeats its conditions in the statement, so a runner that claimed the build in between is
never overwritten. No function here commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from daas.db import models
from daas.db.models import Build, BuildStatus, BuildStep

__all__ = ["ACTIVE_STEPS", "reopen", "requeue_abandoned", "take", "unconfirmed"]

ACTIVE_STEPS = (
    BuildStep.FETCHING,
    BuildStep.BUILDING,
    BuildStep.EXPORTING,
    BuildStep.ATTESTING,
    BuildStep.SUBMITTING,
)


def take(
    session: Session, request_id: str, *, owner: str, lease_ms: int, now_ms: int | None = None
) -> Build | None:
    """Lease the PENDING build `request_id` to `owner` if nobody holds it; attempts are left as they are."""
    now = _now(now_ms)
    stmt = (
        update(Build)
        .where(col(Build.request_id) == request_id)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(_lease_free(now))
        .values(lease_owner=owner, lease_expires_at_ms=now + lease_ms, updated_at_ms=now)
        .returning(Build)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def requeue_abandoned(session: Session, *, now_ms: int | None = None) -> list[str]:
    """Set PENDING builds in an active step without a live lease back to `queued`; their ids."""
    now = _now(now_ms)
    stmt = (
        update(Build)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(col(Build.step).in_(ACTIVE_STEPS))
        .where(_lease_free(now))
        .values(step=BuildStep.QUEUED, updated_at_ms=now)
        .returning(col(Build.request_id))
    )
    return sorted(session.exec(stmt).scalars())


def unconfirmed(
    session: Session, *, older_than_ms: int, now_ms: int | None = None, limit: int = 100
) -> list[Build]:
    """PENDING builds marked `done` more than `older_than_ms` ago, and not leased."""
    now = _now(now_ms)
    stmt = (
        select(Build)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(col(Build.step) == BuildStep.DONE)
        .where(col(Build.updated_at_ms) < now - older_than_ms)
        .where(_lease_free(now))
        .order_by(col(Build.updated_at_ms), col(Build.request_id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt))


def reopen(session: Session, request_id: str, *, now_ms: int | None = None) -> bool:
    """Put a PENDING build marked `done` back in the queue; False if it changed meanwhile."""
    now = _now(now_ms)
    stmt = (
        update(Build)
        .where(col(Build.request_id) == request_id)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(col(Build.step) == BuildStep.DONE)
        .where(_lease_free(now))
        .values(step=BuildStep.QUEUED, updated_at_ms=now)
    )
    return session.exec(stmt).rowcount == 1


def _lease_free(now: int) -> sa.ColumnElement[bool]:
    return sa.or_(col(Build.lease_owner).is_(None), col(Build.lease_expires_at_ms) < now)


def _now(now_ms: int | None) -> int:
    return models.now_ms() if now_ms is None else now_ms
