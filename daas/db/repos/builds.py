"""Build rows: idempotent recording of requests, forward-only status, runner steps and leases.

A build is *claimable* while it is PENDING on chain, not yet ``done`` on the runner's side, has attempts
left, and nobody holds an unexpired lease on it. ``claim_next`` takes the lease and counts the attempt in
one statement, so a runner that dies mid-build still uses up a try; the caller commits right after, because
on PostgreSQL the row stays locked until then. Builds out of attempts are listed by ``exhausted`` so a
reaper can fail them on chain.

No function here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from daas.db import models
from daas.db.models import Build, BuildStatus, BuildStep
from daas.db.repos._sql import insert_for, is_postgres, table_of

__all__ = [
    "BuildCursor",
    "advance_status",
    "claim_next",
    "exhausted",
    "get",
    "list_builds",
    "reap_expired_leases",
    "release_lease",
    "renew_lease",
    "set_step",
    "upsert_requested",
    "upsert_requested_many",
]


@dataclass(frozen=True, slots=True)
class BuildCursor:
    """Keyset position in the created order: the last build of the previous page."""

    created_at_ms: int
    request_id: str

    @classmethod
    def of(cls, build: Build) -> BuildCursor:
        return cls(build.created_at_ms, build.request_id)

    def encode(self) -> str:
        """An opaque string for an API ``cursor`` parameter."""
        return f"{self.created_at_ms}.{self.request_id}"

    @classmethod
    def decode(cls, text: str) -> BuildCursor:
        """Parse ``encode()``'s output; ``ValueError`` if it is not one."""
        ms, sep, request_id = text.partition(".")
        if not sep or not ms.isdigit() or not request_id:
            raise ValueError(f"not a build cursor: {text!r}")
        return cls(int(ms), request_id)


def upsert_requested(session: Session, build: Build) -> bool:
    """Record a requested build unless it exists; True if this call inserted it (replays are no-ops)."""
    return bool(upsert_requested_many(session, [build]))


def upsert_requested_many(session: Session, builds: Sequence[Build]) -> list[str]:
    """Record many requested builds in one statement; returns the ids that were new."""
    if not builds:
        return []
    table = table_of(Build)
    rows = [{c.name: getattr(build, c.name) for c in table.columns} for build in builds]
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=[table.c.request_id])
        .returning(table.c.request_id)
    )
    return list(session.exec(stmt, params=rows).scalars())


def advance_status(
    session: Session,
    request_id: str,
    new_status: BuildStatus,
    *,
    enclave_id: str | None = None,
    image_digest: str | None = None,
    image_index_blob_id: str | None = None,
    log_digest: str | None = None,
    log_blob_id: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    result_timestamp_ms: int | None = None,
    result_tx_digest: str | None = None,
    result_checkpoint: int | None = None,
    now_ms: int | None = None,
) -> bool:
    """Move a PENDING build to a final status and store the result fields given (None = leave as is).

    Returns True if the build changed; False if it is unknown or already final (finals never change,
    so a replayed result event is harmless).
    """
    if not new_status.is_final:
        raise ValueError(f"a build can only advance to a final status, not {new_status.value!r}")
    result_fields: dict[str, Any] = {
        "enclave_id": enclave_id,
        "image_digest": image_digest,
        "image_index_blob_id": image_index_blob_id,
        "log_digest": log_digest,
        "log_blob_id": log_blob_id,
        "error_code": error_code,
        "error_message": error_message,
        "result_timestamp_ms": result_timestamp_ms,
        "result_tx_digest": result_tx_digest,
        "result_checkpoint": result_checkpoint,
    }
    values = {name: value for name, value in result_fields.items() if value is not None}
    values.update(status=new_status, updated_at_ms=_now(now_ms))
    stmt = (
        update(Build)
        .where(col(Build.request_id) == request_id)
        .where(col(Build.status) == BuildStatus.PENDING)
        .values(**values)
    )
    return session.exec(stmt).rowcount == 1


def get(session: Session, request_id: str) -> Build | None:
    """The build as stored now (never a stale copy from the session's identity map)."""
    return session.get(Build, request_id, populate_existing=True)


def list_builds(
    session: Session,
    *,
    requester: str | None = None,
    status: BuildStatus | None = None,
    step: BuildStep | None = None,
    after: BuildCursor | None = None,
    limit: int = 50,
    newest_first: bool = True,
) -> list[Build]:
    """One page of builds in created order (newest first by default), continuing after ``after``."""
    created, request_id = col(Build.created_at_ms), col(Build.request_id)
    stmt = select(Build)
    if requester is not None:
        stmt = stmt.where(col(Build.requester) == requester)
    if status is not None:
        stmt = stmt.where(col(Build.status) == status)
    if step is not None:
        stmt = stmt.where(col(Build.step) == step)
    if after is not None:
        if newest_first:
            stmt = stmt.where(
                sa.or_(
                    created < after.created_at_ms,
                    sa.and_(created == after.created_at_ms, request_id < after.request_id),
                )
            )
        else:
            stmt = stmt.where(
                sa.or_(
                    created > after.created_at_ms,
                    sa.and_(created == after.created_at_ms, request_id > after.request_id),
                )
            )
    order = (created.desc(), request_id.desc()) if newest_first else (created, request_id)
    stmt = stmt.order_by(*order).limit(limit).execution_options(populate_existing=True)
    return list(session.exec(stmt))


def set_step(
    session: Session,
    request_id: str,
    step: BuildStep,
    *,
    owner: str | None = None,
    now_ms: int | None = None,
) -> bool:
    """Record the runner's step; with ``owner``, only while that runner holds the lease.

    Returns whether a row was updated (False: unknown build, or the lease belongs to someone else).
    """
    stmt = update(Build).where(col(Build.request_id) == request_id)
    if owner is not None:
        stmt = stmt.where(col(Build.lease_owner) == owner)
    stmt = stmt.values(step=step, updated_at_ms=_now(now_ms))
    return session.exec(stmt).rowcount == 1


def claim_next(
    session: Session,
    *,
    owner: str,
    lease_ms: int,
    max_attempts: int,
    now_ms: int | None = None,
) -> Build | None:
    """Lease the oldest claimable build to ``owner`` and count the attempt; None if there is none.

    Two claimers never get the same build: on PostgreSQL the candidate is picked with
    ``FOR UPDATE SKIP LOCKED`` (a claimer never waits for another); on SQLite the single UPDATE runs
    under the database's write lock. The eligibility test is repeated in the UPDATE itself, so the
    claim is safe even when the candidate changed in between.
    """
    now = _now(now_ms)
    eligible = _claimable(now, max_attempts)
    candidate = (
        select(Build.request_id)
        .where(*eligible)
        .order_by(col(Build.created_at_ms), col(Build.request_id))
        .limit(1)
    )
    if is_postgres(session):
        candidate = candidate.with_for_update(skip_locked=True)
    stmt = (
        update(Build)
        .where(col(Build.request_id) == candidate.scalar_subquery(), *eligible)
        .values(
            lease_owner=owner,
            lease_expires_at_ms=now + lease_ms,
            attempts=col(Build.attempts) + 1,
            updated_at_ms=now,
        )
        .returning(Build)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def renew_lease(
    session: Session, request_id: str, *, owner: str, lease_ms: int, now_ms: int | None = None
) -> bool:
    """Extend ``owner``'s lease to now + ``lease_ms``.

    False means stop working on the build: another runner holds the lease now, or the build is no
    longer PENDING on chain (for example it was cancelled).
    """
    now = _now(now_ms)
    stmt = (
        update(Build)
        .where(col(Build.request_id) == request_id)
        .where(col(Build.lease_owner) == owner)
        .where(col(Build.status) == BuildStatus.PENDING)
        .values(lease_expires_at_ms=now + lease_ms, updated_at_ms=now)
    )
    return session.exec(stmt).rowcount == 1


def released(session: Session, request_id: str, *, now_ms: int | None = None) -> bool:
    """No runner holds the build now (never claimed, released, or its lease expired)."""
    row = session.exec(
        select(Build.lease_owner, Build.lease_expires_at_ms).where(
            col(Build.request_id) == request_id
        )
    ).first()
    if row is None or row[0] is None:
        return True
    # As for claims: a lease still holds at its expiry instant.
    return row[1] is None or row[1] < _now(now_ms)


def release_lease(
    session: Session, request_id: str, *, owner: str, now_ms: int | None = None
) -> bool:
    """Give up ``owner``'s lease (after finishing or on shutdown); False if it was not held by owner."""
    stmt = (
        update(Build)
        .where(col(Build.request_id) == request_id)
        .where(col(Build.lease_owner) == owner)
        .values(lease_owner=None, lease_expires_at_ms=None, updated_at_ms=_now(now_ms))
    )
    return session.exec(stmt).rowcount == 1


def reap_expired_leases(session: Session, *, now_ms: int | None = None) -> list[str]:
    """Clear leases that expired on PENDING builds; returns the request ids reaped.

    Claiming already ignores expired leases; reaping makes the state visible (no stale owner shown).
    """
    now = _now(now_ms)
    stmt = (
        update(Build)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(col(Build.lease_owner).is_not(None))
        .where(col(Build.lease_expires_at_ms) < now)
        .values(lease_owner=None, lease_expires_at_ms=None, updated_at_ms=now)
        .returning(col(Build.request_id))
    )
    return sorted(session.exec(stmt).scalars())


def exhausted(
    session: Session, *, max_attempts: int, now_ms: int | None = None, limit: int = 100
) -> list[Build]:
    """PENDING builds that used all their attempts and that no runner is working on.

    These are never claimed again; a reaper fails them on chain (an infrastructure failure, refunded).
    """
    now = _now(now_ms)
    stmt = (
        select(Build)
        .where(col(Build.status) == BuildStatus.PENDING)
        .where(col(Build.attempts) >= max_attempts)
        .where(_step_not_done(), _lease_free(now))
        .order_by(col(Build.created_at_ms), col(Build.request_id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt))


def _claimable(now: int, max_attempts: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        col(Build.status) == BuildStatus.PENDING,
        col(Build.attempts) < max_attempts,
        _step_not_done(),
        _lease_free(now),
    )


def _step_not_done() -> sa.ColumnElement[bool]:
    # "done" while still PENDING: the result was submitted and the indexer has not seen it yet.
    return sa.or_(col(Build.step).is_(None), col(Build.step) != BuildStep.DONE)


def _lease_free(now: int) -> sa.ColumnElement[bool]:
    return sa.or_(col(Build.lease_owner).is_(None), col(Build.lease_expires_at_ms) < now)


def _now(now_ms: int | None) -> int:
    return models.now_ms() if now_ms is None else now_ms
