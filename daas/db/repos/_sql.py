"""SQL helpers shared by the repositories: dialect-specific INSERT and table lookup."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from daas.db.models import metadata

Insert = sqlite.Insert | postgresql.Insert


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a SQLModel class; bulk writes use Core (about 10x faster than the ORM)."""
    return metadata.tables[str(model.__tablename__)]


def insert_for(session: Session, table: sa.Table) -> Insert:
    """An INSERT that supports ``ON CONFLICT`` on the session's dialect (SQLite or PostgreSQL)."""
    if is_postgres(session):
        return postgresql.insert(table)
    return sqlite.insert(table)
