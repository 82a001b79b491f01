"""Indexer watermarks: how far each pipeline has committed. A watermark only ever rises.

The indexer calls ``advance`` in the same transaction as the rows of the checkpoints it covers, so
after a crash the rows and the watermark are either both there or both absent, and it resumes from
``checkpoint_hi_inclusive + 1``.

No function here commits.
"""

from __future__ import annotations

from sqlmodel import Session

from daas.db import models
from daas.db.models import IndexedChain, Watermark
from daas.db.repos._sql import insert_for, table_of

__all__ = ["advance", "bind_chain", "get"]


def get(session: Session, pipeline: str) -> Watermark | None:
    """The pipeline's watermark as stored now, or None before its first commit."""
    return session.get(Watermark, pipeline, populate_existing=True)


def advance(
    session: Session,
    pipeline: str,
    *,
    checkpoint_hi_inclusive: int,
    tx_hi: int,
    timestamp_ms_hi: int,
    epoch_hi_inclusive: int,
    now_ms: int | None = None,
) -> bool:
    """Raise the watermark to this checkpoint (creating it if absent); True if it changed.

    A checkpoint at or below the stored one changes nothing, so a replayed batch cannot lower it.
    """
    table = table_of(Watermark)
    values = {
        "pipeline": pipeline,
        "checkpoint_hi_inclusive": checkpoint_hi_inclusive,
        "tx_hi": tx_hi,
        "timestamp_ms_hi": timestamp_ms_hi,
        "epoch_hi_inclusive": epoch_hi_inclusive,
        "updated_at_ms": models.now_ms() if now_ms is None else now_ms,
    }
    insert = insert_for(session, table).values(values)
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.pipeline],
        set_={name: insert.excluded[name] for name in values if name != "pipeline"},
        # The UPDATE half only fires for a higher checkpoint; RETURNING then yields no row.
        where=table.c.checkpoint_hi_inclusive < insert.excluded.checkpoint_hi_inclusive,
    ).returning(table.c.pipeline)
    return session.exec(stmt).first() is not None


def bind_chain(session: Session, pipeline: str, chain_id: str) -> str:
    """The chain `pipeline` indexes: recorded as `chain_id` on first use; otherwise the recorded one.

    The caller compares: a different answer means this database holds another chain's rows (a localnet
    re-created from genesis, or a node of another network), and resuming from its watermark would be wrong.
    """
    bound = session.get(IndexedChain, pipeline, populate_existing=True)
    if bound is not None:
        return bound.chain_id
    session.add(IndexedChain(pipeline=pipeline, chain_id=chain_id))
    session.flush()
    return chain_id
