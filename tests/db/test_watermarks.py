"""The watermarks repository: it only rises, and it commits atomically with the rows it covers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from daas.db.engine import session_scope
from daas.db.models import BuildStatus, EventKind
from daas.db.repos import builds, events, watermarks
from daas.errors import DatabaseError
from tests.db.helpers import make_build, object_id

PIPELINE = "builds"


def _advance(session: Session, checkpoint: int, pipeline: str = PIPELINE) -> bool:
    return watermarks.advance(
        session,
        pipeline,
        checkpoint_hi_inclusive=checkpoint,
        tx_hi=checkpoint * 10,
        timestamp_ms_hi=1_700_000_000_000 + checkpoint,
        epoch_hi_inclusive=checkpoint // 100,
        now_ms=checkpoint,
    )


def _checkpoint(session: Session, pipeline: str = PIPELINE) -> int | None:
    mark = watermarks.get(session, pipeline)
    return None if mark is None else mark.checkpoint_hi_inclusive


def test_first_advance_creates_the_watermark(session: Session) -> None:
    assert watermarks.get(session, PIPELINE) is None
    assert _advance(session, 5) is True
    session.commit()
    mark = watermarks.get(session, PIPELINE)
    assert mark is not None
    assert (mark.checkpoint_hi_inclusive, mark.tx_hi, mark.epoch_hi_inclusive) == (5, 50, 0)
    assert (mark.timestamp_ms_hi, mark.updated_at_ms) == (1_700_000_000_005, 5)


def test_watermark_only_rises(session: Session) -> None:
    assert _advance(session, 100) is True
    assert _advance(session, 250) is True
    session.commit()
    assert _advance(session, 250) is False  # a replayed batch
    assert _advance(session, 120) is False  # an older one
    session.commit()
    mark = watermarks.get(session, PIPELINE)
    assert mark is not None
    assert (mark.checkpoint_hi_inclusive, mark.tx_hi, mark.updated_at_ms) == (250, 2500, 250)


def test_pipelines_are_independent(session: Session) -> None:
    _advance(session, 10, "builds")
    _advance(session, 3, "enclaves")
    session.commit()
    assert (_checkpoint(session, "builds"), _checkpoint(session, "enclaves")) == (10, 3)
    assert _checkpoint(session, "other") is None


def test_a_failed_transaction_leaves_neither_rows_nor_watermark(
    engine: sa.Engine, session_factory: Callable[[], Session]
) -> None:
    with session_scope(engine) as setup:
        _advance(setup, 10)
        setup.commit()

    # The indexer's unit of work: rows, events and the watermark; the last statement is refused.
    with pytest.raises(DatabaseError), session_scope(engine) as batch:
        builds.upsert_requested(batch, make_build(1))
        events.append(batch, object_id(1), EventKind.STATUS, {"status": "pending"})
        assert _advance(batch, 11) is True
        builds.upsert_requested(batch, make_build(2))
        events.append(batch, object_id(3), EventKind.STATUS, {})  # no such build
        batch.commit()

    reader = session_factory()
    assert builds.get(reader, object_id(1)) is None
    assert builds.get(reader, object_id(2)) is None
    assert events.last_id(reader) == 0
    assert _checkpoint(reader) == 10

    # The retried batch then commits everything at once.
    with session_scope(engine) as retry:
        builds.upsert_requested(retry, make_build(1))
        events.append(retry, object_id(1), EventKind.STATUS, {"status": "pending"})
        _advance(retry, 11)
        retry.commit()
    assert builds.get(reader, object_id(1)) is not None
    assert _checkpoint(reader) == 11


def test_uncommitted_work_is_invisible_to_other_sessions(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    builds.upsert_requested(session, make_build(1))
    builds.advance_status(session, object_id(1), BuildStatus.SUCCEEDED)
    _advance(session, 7)
    session.flush()
    other = session_factory()
    assert builds.get(other, object_id(1)) is None
    assert _checkpoint(other) is None
    session.rollback()
    assert builds.get(session, object_id(1)) is None
    assert _checkpoint(session) is None
