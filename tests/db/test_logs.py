"""The logs repository: numbered lines, idempotent writes, reading from a line on."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from daas.db.models import LogStream
from daas.db.repos import builds, logs
from daas.db.repos.logs import LogLine
from tests.db.helpers import make_build, object_id

A, B = object_id(1), object_id(2)


@pytest.fixture(autouse=True)
def two_builds(session: Session) -> None:
    builds.upsert_requested_many(session, [make_build(1), make_build(2)])
    session.commit()


def _texts(session: Session, build_id: str, **kwargs: int) -> list[tuple[int, str]]:
    return [(line.line_no, line.text) for line in logs.read(session, build_id, **kwargs)]


def test_lines_are_read_back_in_order_per_build(session: Session) -> None:
    assert logs.next_line_no(session, A) == 0
    written = logs.append_lines(
        session,
        A,
        [
            LogLine(1, "Step 2/2 : RUN make"),
            LogLine(0, "Step 1/2 : FROM base"),
            LogLine(2, "warning: deprecated", LogStream.STDERR),
        ],
        now_ms=42,
    )
    logs.append_lines(session, B, [LogLine(0, "other build")])
    session.commit()

    assert written == 3
    lines = logs.read(session, A)
    assert [(line.line_no, line.text, line.stream) for line in lines] == [
        (0, "Step 1/2 : FROM base", LogStream.STDOUT),
        (1, "Step 2/2 : RUN make", LogStream.STDOUT),
        (2, "warning: deprecated", LogStream.STDERR),
    ]
    assert {line.created_at_ms for line in lines} == {42}
    assert logs.next_line_no(session, A) == 3
    assert logs.next_line_no(session, B) == 1


def test_rewriting_a_line_changes_nothing(session: Session) -> None:
    logs.append_lines(session, A, [LogLine(0, "first"), LogLine(1, "second")])
    session.commit()
    # A runner resuming after a crash re-sends lines 1-2; only line 2 is new.
    written = logs.append_lines(session, A, [LogLine(1, "SECOND (again)"), LogLine(2, "third")])
    session.commit()
    assert written == 1
    assert _texts(session, A) == [(0, "first"), (1, "second"), (2, "third")]
    assert logs.append_lines(session, A, []) == 0


def test_read_from_a_line_with_a_limit(session: Session) -> None:
    logs.append_lines(session, A, [LogLine(n, f"line {n}") for n in range(10)])
    session.commit()
    assert _texts(session, A, from_line=7) == [(7, "line 7"), (8, "line 8"), (9, "line 9")]
    assert _texts(session, A, from_line=2, limit=2) == [(2, "line 2"), (3, "line 3")]
    assert _texts(session, A, from_line=10) == []
    assert logs.read(session, object_id(404)) == []


def test_text_is_kept_verbatim(session: Session) -> None:
    odd = "tabs\tand ünïcødé ✓ and a very long line " + "x" * 10_000
    logs.append_lines(session, A, [LogLine(0, odd, LogStream.SYSTEM), LogLine(1, "")])
    session.commit()
    assert _texts(session, A) == [(0, odd), (1, "")]
    assert logs.read(session, A)[0].stream is LogStream.SYSTEM
