"""Enclaves registered on chain, as the indexer saw them.

Registration facts never change on chain, so ``upsert`` keeps an existing row as it is: in particular a
replayed ``EnclaveRegistered`` cannot undo an ``EnclaveDestroyed`` seen later.

No function here commits.
"""

from __future__ import annotations

from sqlmodel import Session, col, select, update

from daas.db.models import Enclave
from daas.db.repos._sql import insert_for, table_of

__all__ = ["get", "list_enclaves", "mark_destroyed", "upsert"]


def upsert(session: Session, enclave: Enclave) -> bool:
    """Record a registered enclave unless already known; True if this call inserted it."""
    table = table_of(Enclave)
    row = {c.name: getattr(enclave, c.name) for c in table.columns}
    stmt = (
        insert_for(session, table)
        .values(row)
        .on_conflict_do_nothing(index_elements=[table.c.enclave_id])
        .returning(table.c.enclave_id)
    )
    return session.exec(stmt).first() is not None


def get(session: Session, enclave_id: str) -> Enclave | None:
    return session.get(Enclave, enclave_id, populate_existing=True)


def mark_destroyed(session: Session, enclave_id: str) -> bool:
    """Flag the enclave destroyed; True if it was known and not already destroyed."""
    stmt = (
        update(Enclave)
        .where(col(Enclave.enclave_id) == enclave_id)
        .where(col(Enclave.destroyed).is_(False))
        .values(destroyed=True)
    )
    return session.exec(stmt).rowcount == 1


def list_enclaves(
    session: Session, *, config_id: str | None = None, include_destroyed: bool = False
) -> list[Enclave]:
    """Enclaves in id order, optionally of one config; destroyed ones only when asked for."""
    stmt = select(Enclave)
    if config_id is not None:
        stmt = stmt.where(col(Enclave.config_id) == config_id)
    if not include_destroyed:
        stmt = stmt.where(col(Enclave.destroyed).is_(False))
    stmt = stmt.order_by(col(Enclave.enclave_id)).execution_options(populate_existing=True)
    return list(session.exec(stmt))
