"""The layer cache: compressed image layers already on Walrus, by diff id, shared by every runner.

A row says "the layer whose uncompressed tar (of `tar_size` bytes) has this diff id is stored on Walrus,
compressed, as these chunks".
Compression is deterministic, so any runner reuses it as is; the exporter still checks that the chunks exist
(Walrus blobs expire) before it trusts a row. A later store of the same layer replaces the row.

No function here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, delete, update

from daas.db import models
from daas.db.models import LayerBlob
from daas.db.repos._sql import insert_for, table_of

__all__ = ["forget", "get", "mark_used", "put"]


def get(session: Session, diff_id: str) -> LayerBlob | None:
    return session.get(LayerBlob, diff_id, populate_existing=True)


def put(
    session: Session,
    diff_id: str,
    *,
    digest: str,
    media_type: str,
    size: int,
    tar_size: int,
    chunks: Sequence[dict[str, Any]],
    now_ms: int | None = None,
) -> None:
    """Record (or replace) where the layer `diff_id` is stored."""
    now = models.now_ms() if now_ms is None else now_ms
    table = table_of(LayerBlob)
    values = {
        "diff_id": diff_id,
        "digest": digest,
        "media_type": media_type,
        "size": size,
        "tar_size": tar_size,
        "chunks": list(chunks),
        "stored_at_ms": now,
        "used_at_ms": now,
    }
    insert = insert_for(session, table).values(values)
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.diff_id],
        set_={name: insert.excluded[name] for name in values if name != "diff_id"},
    )
    session.exec(stmt)


def mark_used(session: Session, diff_id: str, *, now_ms: int | None = None) -> bool:
    """Note that a build reused the layer (for a future clean-up of layers nobody uses)."""
    now = models.now_ms() if now_ms is None else now_ms
    stmt = update(LayerBlob).where(col(LayerBlob.diff_id) == diff_id).values(used_at_ms=now)
    return session.exec(stmt).rowcount == 1


def forget(session: Session, diff_id: str) -> bool:
    """Drop a row (its chunks expired); True if there was one."""
    stmt = delete(LayerBlob).where(col(LayerBlob.diff_id) == diff_id)
    return session.exec(stmt).rowcount == 1
