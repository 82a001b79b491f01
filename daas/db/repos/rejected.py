"""Chain events of our package that the indexer could not decode or accept, kept raw.

Keyed by (transaction digest, event index), so reprocessing a checkpoint records nothing twice.

No function here commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from daas.db import models
from daas.db.models import RejectedEvent
from daas.db.repos._sql import insert_for, table_of

__all__ = ["count", "list_recent", "record"]


def record(
    session: Session,
    *,
    tx_digest: str,
    event_seq: int,
    checkpoint: int,
    event_type: str,
    raw_bcs: bytes,
    reason: str,
    now_ms: int | None = None,
) -> bool:
    """Keep a rejected event; True if it was not recorded before."""
    table = table_of(RejectedEvent)
    stmt = (
        insert_for(session, table)
        .values(
            tx_digest=tx_digest,
            event_seq=event_seq,
            checkpoint=checkpoint,
            event_type=event_type,
            raw_bcs=raw_bcs,
            reason=reason,
            created_at_ms=models.now_ms() if now_ms is None else now_ms,
        )
        .on_conflict_do_nothing(index_elements=[table.c.tx_digest, table.c.event_seq])
        .returning(table.c.id)
    )
    return session.exec(stmt).first() is not None


def count(session: Session) -> int:
    return session.exec(select(sa.func.count()).select_from(RejectedEvent)).one()


def list_recent(session: Session, *, limit: int = 100) -> list[RejectedEvent]:
    """The most recently recorded rejections first."""
    stmt = select(RejectedEvent).order_by(col(RejectedEvent.id).desc()).limit(limit)
    return list(session.exec(stmt))
