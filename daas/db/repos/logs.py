"""Build log lines, numbered from 0 per build; writing a line number twice keeps the first text.

No function here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from daas.db import models
from daas.db.models import BuildLogLine, LogStream
from daas.db.repos._sql import insert_for, table_of

__all__ = ["LogLine", "append_lines", "next_line_no", "read"]


class LogLine(NamedTuple):
    line_no: int
    text: str
    stream: LogStream = LogStream.STDOUT


def append_lines(
    session: Session, build_id: str, lines: Sequence[LogLine], *, now_ms: int | None = None
) -> int:
    """Store lines; returns how many were new (lines already stored are left untouched)."""
    if not lines:
        return 0
    created = models.now_ms() if now_ms is None else now_ms
    table = table_of(BuildLogLine)
    rows = [
        {
            "build_id": build_id,
            "line_no": line.line_no,
            "stream": line.stream,
            "text": line.text,
            "created_at_ms": created,
        }
        for line in lines
    ]
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=[table.c.build_id, table.c.line_no])
        .returning(table.c.line_no)
    )
    return len(session.exec(stmt, params=rows).all())


def read(
    session: Session, build_id: str, *, from_line: int = 0, limit: int | None = None
) -> list[BuildLogLine]:
    """Lines numbered ``from_line`` onwards, in order, at most ``limit`` of them."""
    stmt = (
        select(BuildLogLine)
        .where(col(BuildLogLine.build_id) == build_id)
        .where(col(BuildLogLine.line_no) >= from_line)
        .order_by(col(BuildLogLine.line_no))
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt))


def next_line_no(session: Session, build_id: str) -> int:
    """One past the highest stored line number (0 for a build without lines)."""
    stmt = select(sa.func.max(col(BuildLogLine.line_no))).where(
        col(BuildLogLine.build_id) == build_id
    )
    highest = session.exec(stmt).one()
    return 0 if highest is None else highest + 1
