"""Build events: the SSE feed. An event's id is its SSE ``id:``; a client resumes with ``list_after``.

Resuming loses nothing only if ids become visible in increasing order, i.e. ids follow commit order.
SQLite has one writer at a time, so they do. On PostgreSQL a sequence hands out ids at insert time, and
two writers could commit out of order (a reader would see id 8, skip past it, then 7 appears). So
``append`` first takes a transaction-scoped advisory lock: event-writing transactions serialise from
their first event to their commit. Append events at the end of a unit of work to keep that short.

No function here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from daas.db import models
from daas.db.models import BuildEvent, EventKind
from daas.db.repos._sql import is_postgres, table_of

__all__ = ["EVENTS_LOCK_KEY", "NewEvent", "append", "append_many", "last_id", "list_after"]

# Arbitrary but fixed: the bytes "daasevnt". Every process must use the same key.
EVENTS_LOCK_KEY = 0x6461617365766E74


class NewEvent(NamedTuple):
    build_id: str
    kind: EventKind
    payload: dict[str, Any]


def append(
    session: Session,
    build_id: str,
    kind: EventKind,
    payload: dict[str, Any],
    *,
    now_ms: int | None = None,
) -> int:
    """Add one event and return its id (greater than every id committed before it)."""
    return append_many(session, [NewEvent(build_id, kind, payload)], now_ms=now_ms)[0]


def append_many(
    session: Session, events: Sequence[NewEvent], *, now_ms: int | None = None
) -> list[int]:
    """Add events in order in one statement; returns their ids, increasing, in the same order."""
    if not events:
        return []
    _serialise_writers(session)
    created = models.now_ms() if now_ms is None else now_ms
    table = table_of(BuildEvent)
    rows = [
        {"build_id": e.build_id, "kind": e.kind, "payload": e.payload, "created_at_ms": created}
        for e in events
    ]
    stmt = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.exec(stmt, params=rows).scalars())


def list_after(
    session: Session, *, after_id: int = 0, build_id: str | None = None, limit: int = 100
) -> list[BuildEvent]:
    """Events with id > ``after_id`` in id order, for one build or for all."""
    stmt = select(BuildEvent).where(col(BuildEvent.id) > after_id)
    if build_id is not None:
        stmt = stmt.where(col(BuildEvent.build_id) == build_id)
    return list(session.exec(stmt.order_by(col(BuildEvent.id)).limit(limit)))


def last_id(session: Session, build_id: str | None = None) -> int:
    """The highest event id (of one build, or overall); 0 when there is none (ids start at 1)."""
    stmt = select(sa.func.max(col(BuildEvent.id)))
    if build_id is not None:
        stmt = stmt.where(col(BuildEvent.build_id) == build_id)
    return session.exec(stmt).one() or 0


def _serialise_writers(session: Session) -> None:
    if is_postgres(session):
        session.exec(select(sa.func.pg_advisory_xact_lock(EVENTS_LOCK_KEY)))
