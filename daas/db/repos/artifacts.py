"""Build artifacts: the blobs the runner stored on Walrus for a build (image index, log, Kubernetes manifest).

One row per build and kind; storing a kind again (a later attempt) replaces the row. The chain carries the
image index and log blob ids of a posted result; the Kubernetes manifest is found only here.

No function here commits.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from daas.db import models
from daas.db.models import ArtifactKind, BuildArtifact
from daas.db.repos._sql import insert_for, table_of

__all__ = ["get", "list_for", "put"]


def put(
    session: Session,
    build_id: str,
    kind: ArtifactKind,
    *,
    blob_id: str,
    sha256: str,
    size: int,
    media_type: str,
    content: str | None = None,
    now_ms: int | None = None,
) -> None:
    """Record (or replace) the artifact `kind` of a build."""
    table = table_of(BuildArtifact)
    values = {
        "build_id": build_id,
        "kind": kind,
        "blob_id": blob_id,
        "sha256": sha256,
        "size": size,
        "media_type": media_type,
        "content": content,
        "created_at_ms": models.now_ms() if now_ms is None else now_ms,
    }
    insert = insert_for(session, table).values(values)
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.build_id, table.c.kind],
        set_={k: insert.excluded[k] for k in values if k not in ("build_id", "kind")},
    )
    session.exec(stmt)


def get(session: Session, build_id: str, kind: ArtifactKind) -> BuildArtifact | None:
    return session.get(BuildArtifact, (build_id, kind), populate_existing=True)


def list_for(session: Session, build_id: str) -> list[BuildArtifact]:
    """Every artifact of a build, by kind."""
    stmt = (
        select(BuildArtifact)
        .where(col(BuildArtifact.build_id) == build_id)
        .order_by(col(BuildArtifact.kind))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt))
