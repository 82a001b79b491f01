"""The events repository: ids increase in commit order, resuming after an id loses nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from daas.db.models import BuildEvent, EventKind
from daas.db.repos import builds, events
from daas.db.repos.events import NewEvent
from tests.db.helpers import make_build, object_id

A, B = object_id(1), object_id(2)


@pytest.fixture
def two_builds(session: Session) -> None:
    builds.upsert_requested_many(session, [make_build(1), make_build(2)])
    session.commit()


def _kinds_and_payloads(rows: list[BuildEvent]) -> list[tuple[str, EventKind, object]]:
    return [(row.build_id, row.kind, row.payload) for row in rows]


@pytest.mark.usefixtures("two_builds")
def test_ids_increase_and_list_after_resumes(session: Session) -> None:
    assert events.last_id(session) == 0
    ids = [
        events.append(session, A, EventKind.STATUS, {"status": "pending"}),
        events.append(session, B, EventKind.STATUS, {"status": "pending"}),
        events.append(session, A, EventKind.STEP, {"step": "fetching"}),
        events.append(session, A, EventKind.LOG, {"line_no": 0, "text": "Step 1/3"}),
    ]
    session.commit()
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert ids[0] >= 1

    everything = events.list_after(session)
    assert [row.id for row in everything] == ids
    assert [row.id for row in events.list_after(session, after_id=ids[1])] == ids[2:]
    assert [row.id for row in events.list_after(session, build_id=A)] == [ids[0], ids[2], ids[3]]
    assert [row.id for row in events.list_after(session, build_id=A, after_id=ids[0], limit=1)] == [
        ids[2]
    ]
    assert events.list_after(session, after_id=ids[-1]) == []
    assert events.last_id(session) == ids[3]
    assert events.last_id(session, build_id=B) == ids[1]
    assert events.last_id(session, build_id=object_id(3)) == 0


@pytest.mark.usefixtures("two_builds")
def test_payloads_round_trip_as_json(session: Session) -> None:
    payload = {
        "status": "failed",
        "error_code": 110,
        "nested": {"list": [1, 2.5, None, True], "text": "ünïcødé ✓"},
    }
    events.append(session, A, EventKind.RESULT, payload, now_ms=1234)
    session.commit()
    (row,) = events.list_after(session)
    assert row.payload == payload
    assert row.kind is EventKind.RESULT
    assert row.created_at_ms == 1234


@pytest.mark.usefixtures("two_builds")
def test_append_many_keeps_the_given_order(session: Session) -> None:
    batch = [NewEvent(B if n % 2 else A, EventKind.LOG, {"n": n}) for n in range(50)]
    ids = events.append_many(session, batch)
    session.commit()
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    stored = {row.id: row for row in events.list_after(session, limit=100)}
    assert [stored[i].payload for i in ids] == [{"n": n} for n in range(50)]
    assert [stored[i].build_id for i in ids] == [e.build_id for e in batch]
    assert events.append_many(session, []) == []


@pytest.mark.usefixtures("two_builds")
def test_ids_of_rolled_back_or_deleted_events_are_not_reused(session: Session) -> None:
    first = events.append(session, A, EventKind.STATUS, {})
    session.commit()
    rolled_back = events.append(session, A, EventKind.STATUS, {})
    session.rollback()
    last = events.append(session, A, EventKind.STATUS, {})
    session.commit()
    session.connection().execute(sa.delete(BuildEvent).where(sa.column("id") == last))
    session.commit()
    after_delete = events.append(session, A, EventKind.STATUS, {})
    session.commit()
    assert first < last < after_delete
    assert rolled_back > first
    # A client that saw `last` before the delete must still see the new event.
    assert [row.id for row in events.list_after(session, after_id=last)] == [after_delete]


def test_an_event_needs_an_existing_build(session: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        events.append(session, object_id(404), EventKind.STATUS, {})
        session.flush()


@pytest.mark.usefixtures("two_builds")
def test_concurrent_writers_commit_in_id_order(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    """A reader that resumes after the highest id it saw never misses an event committed later.

    Each writer appends, then commits after a short pause; a reader polls throughout. If ids could
    be committed out of order, the reader would jump past an id that becomes visible later.
    """
    writers, per_writer = 4, 15
    done = threading.Event()
    start = threading.Barrier(writers + 1)

    def write(worker: int) -> None:
        own = session_factory()
        start.wait()
        for n in range(per_writer):
            events.append(own, A if worker % 2 else B, EventKind.LOG, {"w": worker, "n": n})
            own.flush()
            threading.Event().wait(0.002)  # hold the transaction open for a moment
            own.commit()

    seen: list[int] = []

    def read() -> None:
        reader = session_factory()
        start.wait()
        cursor = 0
        while True:
            finished = done.is_set()
            batch = events.list_after(reader, after_id=cursor, limit=1000)
            reader.rollback()  # a new snapshot on every poll
            seen.extend(row.id for row in batch if row.id is not None)
            if batch:
                cursor = seen[-1]
            elif finished:
                return
            # Yield like a real poller; a loop that never sleeps starves the writers of the GIL.
            threading.Event().wait(0.0005)

    with ThreadPoolExecutor(writers + 1) as pool:
        reading = pool.submit(read)
        for future in [pool.submit(write, w) for w in range(writers)]:
            future.result()
        done.set()
        reading.result()

    committed = [row.id for row in events.list_after(session, limit=1000)]
    assert len(committed) == writers * per_writer
    assert seen == committed


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.usefixtures("two_builds")
def test_postgres_second_writer_waits_for_the_first_commit(
    session_factory: Callable[[], Session],
) -> None:
    first, second = session_factory(), session_factory()
    first_id = events.append(first, A, EventKind.STATUS, {"who": "first"})

    second_id: list[int] = []
    appended = threading.Event()

    def append_second() -> None:
        second_id.append(events.append(second, B, EventKind.STATUS, {"who": "second"}))
        appended.set()
        second.commit()

    thread = threading.Thread(target=append_second)
    thread.start()
    try:
        assert not appended.wait(0.5), "the second writer got an id while the first was open"
        first.commit()
        assert appended.wait(10)
    finally:
        first.rollback()
        thread.join(10)
    assert second_id[0] > first_id
