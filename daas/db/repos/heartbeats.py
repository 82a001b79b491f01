"""Runner heartbeats: each runner process upserts its row periodically; health checks read the ages.

No function here commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from daas.db import models
from daas.db.models import RunnerHeartbeat
from daas.db.repos._sql import insert_for, table_of

__all__ = ["beat", "freshest_age_ms", "list_runners", "oldest_age_ms", "remove"]


def beat(
    session: Session,
    runner_id: str,
    *,
    hostname: str,
    pid: int,
    version: str,
    started_at_ms: int,
    current_build: str | None = None,
    now_ms: int | None = None,
) -> None:
    """Record that ``runner_id`` is alive now (and what it is building)."""
    table = table_of(RunnerHeartbeat)
    values = {
        "runner_id": runner_id,
        "hostname": hostname,
        "pid": pid,
        "version": version,
        "started_at_ms": started_at_ms,
        "current_build": current_build,
        "last_seen_at_ms": models.now_ms() if now_ms is None else now_ms,
    }
    insert = insert_for(session, table).values(values)
    # Every column is refreshed: a restarted runner with the same id reports its new pid and start.
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.runner_id],
        set_={name: insert.excluded[name] for name in values if name != "runner_id"},
    )
    session.exec(stmt)


def list_runners(session: Session) -> list[RunnerHeartbeat]:
    """All runners, most recently seen first."""
    stmt = (
        select(RunnerHeartbeat)
        .order_by(col(RunnerHeartbeat.last_seen_at_ms).desc(), col(RunnerHeartbeat.runner_id))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt))


def freshest_age_ms(session: Session, *, now_ms: int | None = None) -> int | None:
    """Milliseconds since any runner last beat (None without runners): is anyone alive?"""
    return _age(session, sa.func.max(col(RunnerHeartbeat.last_seen_at_ms)), now_ms)


def oldest_age_ms(session: Session, *, now_ms: int | None = None) -> int | None:
    """Milliseconds since the quietest runner last beat (None without runners): is anyone stuck?"""
    return _age(session, sa.func.min(col(RunnerHeartbeat.last_seen_at_ms)), now_ms)


def remove(session: Session, runner_id: str) -> bool:
    """Forget a runner (on clean shutdown); True if it was known."""
    stmt = delete(RunnerHeartbeat).where(col(RunnerHeartbeat.runner_id) == runner_id)
    return session.exec(stmt).rowcount == 1


def _age(session: Session, last_seen: sa.ColumnElement[int], now_ms: int | None) -> int | None:
    seen = session.exec(select(last_seen)).one()
    if seen is None:
        return None
    return (models.now_ms() if now_ms is None else now_ms) - seen
