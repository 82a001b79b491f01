"""The enclaves, runner heartbeats and rejected-events repositories."""

from __future__ import annotations

from sqlmodel import Session

from daas.db.models import Enclave
from daas.db.repos import enclaves, heartbeats, rejected
from tests.db.helpers import make_enclave, object_id

# -- enclaves -----------------------------------------------------------------------------------


def test_enclave_upsert_is_idempotent(session: Session) -> None:
    assert enclaves.upsert(session, make_enclave(1)) is True
    session.commit()
    assert enclaves.upsert(session, make_enclave(1, debug=True)) is False
    session.commit()
    stored = enclaves.get(session, make_enclave(1).enclave_id)
    assert stored is not None
    assert stored.debug is False
    assert stored.pcr0 == "a0" * 48
    assert stored.destroyed is False
    assert enclaves.get(session, object_id(404)) is None


def test_destroyed_survives_a_replayed_registration(session: Session) -> None:
    enclave_id = make_enclave(1).enclave_id
    enclaves.upsert(session, make_enclave(1))
    assert enclaves.mark_destroyed(session, enclave_id) is True
    assert enclaves.mark_destroyed(session, enclave_id) is False
    assert enclaves.mark_destroyed(session, object_id(404)) is False
    session.commit()
    enclaves.upsert(session, make_enclave(1))
    session.commit()
    stored = enclaves.get(session, enclave_id)
    assert stored is not None
    assert stored.destroyed is True


def test_list_enclaves(session: Session) -> None:
    other_config = object_id(0xC001)
    enclaves.upsert(session, make_enclave(2))
    enclaves.upsert(session, make_enclave(1, debug=True))
    enclaves.upsert(session, make_enclave(3, config_id=other_config))
    enclaves.mark_destroyed(session, make_enclave(2).enclave_id)
    session.commit()

    def ids(rows: list[Enclave]) -> list[str]:
        return [row.enclave_id for row in rows]

    e1, e2, e3 = (make_enclave(n).enclave_id for n in (1, 2, 3))
    assert ids(enclaves.list_enclaves(session)) == [e1, e3]
    assert ids(enclaves.list_enclaves(session, include_destroyed=True)) == [e1, e2, e3]
    assert ids(enclaves.list_enclaves(session, config_id=other_config)) == [e3]


# -- heartbeats ---------------------------------------------------------------------------------


def _beat(
    session: Session,
    runner_id: str,
    now: int,
    *,
    pid: int = 100,
    started_at_ms: int = 1_000,
    current_build: str | None = None,
) -> None:
    heartbeats.beat(
        session,
        runner_id,
        hostname="host-a",
        pid=pid,
        version="0.1.0",
        started_at_ms=started_at_ms,
        current_build=current_build,
        now_ms=now,
    )


def test_beat_inserts_then_refreshes(session: Session) -> None:
    _beat(session, "r1", 2_000)
    session.commit()
    _beat(session, "r1", 5_000, pid=200, started_at_ms=4_000, current_build=object_id(7))
    session.commit()
    (runner,) = heartbeats.list_runners(session)
    assert (runner.runner_id, runner.pid, runner.started_at_ms) == ("r1", 200, 4_000)
    assert (runner.last_seen_at_ms, runner.current_build) == (5_000, object_id(7))
    _beat(session, "r1", 6_000)  # idle again
    assert heartbeats.list_runners(session)[0].current_build is None


def test_ages_of_the_freshest_and_the_oldest_runner(session: Session) -> None:
    assert heartbeats.freshest_age_ms(session, now_ms=10_000) is None
    assert heartbeats.oldest_age_ms(session, now_ms=10_000) is None
    _beat(session, "r1", 9_000)
    _beat(session, "r2", 4_000)
    session.commit()
    assert heartbeats.freshest_age_ms(session, now_ms=10_000) == 1_000
    assert heartbeats.oldest_age_ms(session, now_ms=10_000) == 6_000
    assert [r.runner_id for r in heartbeats.list_runners(session)] == ["r1", "r2"]


def test_remove_a_runner(session: Session) -> None:
    _beat(session, "r1", 1_000)
    assert heartbeats.remove(session, "r1") is True
    assert heartbeats.remove(session, "r1") is False
    assert heartbeats.list_runners(session) == []


# -- rejected events ----------------------------------------------------------------------------


def _reject(session: Session, tx: str, seq: int, reason: str = "bad length") -> bool:
    return rejected.record(
        session,
        tx_digest=tx,
        event_seq=seq,
        checkpoint=77,
        event_type="0xabc::builds::BuildRequested",
        raw_bcs=bytes(range(256)),
        reason=reason,
        now_ms=5,
    )


def test_rejected_events_are_recorded_once(session: Session) -> None:
    assert rejected.count(session) == 0
    assert _reject(session, "TxA", 0) is True
    assert _reject(session, "TxA", 1) is True
    assert _reject(session, "TxB", 0) is True
    session.commit()
    assert _reject(session, "TxA", 0, reason="replayed") is False
    session.commit()
    assert rejected.count(session) == 3

    newest, *_ = rejected.list_recent(session)
    assert (newest.tx_digest, newest.event_seq) == ("TxB", 0)
    assert newest.raw_bcs == bytes(range(256))
    assert [r.reason for r in rejected.list_recent(session)] == ["bad length"] * 3
    assert len(rejected.list_recent(session, limit=2)) == 2
