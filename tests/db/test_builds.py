"""The builds repository: idempotent requests, forward-only status, pagination, claims and leases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from daas.db.models import Build, BuildStatus, BuildStep
from daas.db.repos import builds
from daas.db.repos.builds import BuildCursor
from tests.db.helpers import OTHER_REQUESTER, REQUESTER, make_build, object_id

NOW = 1_800_000_000_000
LEASE = 60_000


def _add(session: Session, *numbers: int) -> None:
    builds.upsert_requested_many(session, [make_build(n) for n in numbers])
    session.commit()


def _claim(session: Session, owner: str, now: int, *, max_attempts: int = 3) -> Build | None:
    return builds.claim_next(
        session, owner=owner, lease_ms=LEASE, max_attempts=max_attempts, now_ms=now
    )


def _renew(session: Session, n: int, owner: str, now: int) -> bool:
    return builds.renew_lease(session, object_id(n), owner=owner, lease_ms=LEASE, now_ms=now)


def _must_get(session: Session, n: int) -> Build:
    build = builds.get(session, object_id(n))
    assert build is not None
    return build


# -- recording requests -----------------------------------------------------------------------


def test_upsert_requested_inserts_once(session: Session) -> None:
    assert builds.upsert_requested(session, make_build(1)) is True
    session.commit()
    replay = make_build(1, fee=1)  # a replay cannot overwrite what was recorded
    assert builds.upsert_requested(session, replay) is False
    session.commit()

    stored = _must_get(session, 1)
    assert stored.fee == 10_000_000
    assert stored.status is BuildStatus.PENDING
    assert stored.step is BuildStep.QUEUED
    assert stored.attempts == 0
    assert stored.lease_owner is None
    assert stored.request_checkpoint == 101


def test_upsert_requested_many_returns_only_new_ids(session: Session) -> None:
    _add(session, 1, 2)
    new = builds.upsert_requested_many(session, [make_build(n) for n in (2, 3, 1, 4)])
    assert sorted(new) == [object_id(3), object_id(4)]
    assert builds.upsert_requested_many(session, []) == []
    session.commit()
    assert len(builds.list_builds(session, limit=10)) == 4


def test_large_fees_fit(session: Session) -> None:
    big = 2**63 - 1  # BIGINT: the largest MIST amount a single coin realistically holds
    builds.upsert_requested(session, make_build(1, fee=big))
    session.commit()
    assert _must_get(session, 1).fee == big


def test_statuses_are_stored_as_short_strings(session: Session) -> None:
    _add(session, 1)
    raw = session.connection().execute(
        sa.text("SELECT status, step FROM builds WHERE request_id = :id"), {"id": object_id(1)}
    )
    assert raw.one() == ("pending", "queued")


# -- status only moves forward ------------------------------------------------------------------


def test_advance_status_to_succeeded_stores_the_result(session: Session) -> None:
    _add(session, 1)
    changed = builds.advance_status(
        session,
        object_id(1),
        BuildStatus.SUCCEEDED,
        enclave_id=object_id(0xE1),
        image_digest="11" * 32,
        image_index_blob_id="index-blob",
        log_digest="22" * 32,
        log_blob_id="log-blob",
        result_timestamp_ms=NOW,
        result_tx_digest="ResultTx",
        result_checkpoint=999,
        now_ms=NOW,
    )
    assert changed is True
    session.commit()
    stored = _must_get(session, 1)
    assert stored.status is BuildStatus.SUCCEEDED
    assert (stored.image_digest, stored.image_index_blob_id) == ("11" * 32, "index-blob")
    assert (stored.log_digest, stored.log_blob_id) == ("22" * 32, "log-blob")
    assert stored.enclave_id == object_id(0xE1)
    assert (stored.result_tx_digest, stored.result_checkpoint) == ("ResultTx", 999)
    assert stored.error_code is None
    assert stored.updated_at_ms == NOW


@pytest.mark.parametrize(
    "final", [BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.CANCELLED]
)
def test_a_final_status_never_changes(session: Session, final: BuildStatus) -> None:
    _add(session, 1)
    assert builds.advance_status(session, object_id(1), final, error_code=201) is True
    session.commit()
    for other in (BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.CANCELLED):
        assert builds.advance_status(session, object_id(1), other, error_code=105) is False
    session.commit()
    stored = _must_get(session, 1)
    assert stored.status is final
    assert stored.error_code == 201


def test_advance_status_cannot_go_back_to_pending(session: Session) -> None:
    _add(session, 1)
    with pytest.raises(ValueError, match="final"):
        builds.advance_status(session, object_id(1), BuildStatus.PENDING)


def test_advance_status_of_an_unknown_build_is_false(session: Session) -> None:
    assert builds.advance_status(session, object_id(404), BuildStatus.FAILED) is False


def test_get_sees_updates_made_in_the_same_session(session: Session) -> None:
    _add(session, 1)
    before = _must_get(session, 1)
    builds.advance_status(session, object_id(1), BuildStatus.CANCELLED)
    assert _must_get(session, 1).status is BuildStatus.CANCELLED
    assert before.status is BuildStatus.CANCELLED  # the identity-map copy was refreshed too


# -- listing ------------------------------------------------------------------------------------


def _ids(rows: list[Build]) -> list[str]:
    return [row.request_id for row in rows]


def test_keyset_pagination_walks_every_build_once_newest_first(session: Session) -> None:
    # Three builds share a timestamp, so the request id must break ties.
    for n, created in [(1, 10), (2, 20), (3, 20), (4, 20), (5, 30), (6, 40), (7, 5)]:
        builds.upsert_requested(session, make_build(n, created_at_ms=created))
    session.commit()

    pages: list[list[str]] = []
    cursor: BuildCursor | None = None
    while page := builds.list_builds(session, after=cursor, limit=3):
        pages.append(_ids(page))
        cursor = BuildCursor.decode(BuildCursor.of(page[-1]).encode())
    expected = [object_id(n) for n in (6, 5, 4, 3, 2, 1, 7)]
    assert pages == [expected[0:3], expected[3:6], expected[6:7]]


def test_keyset_pagination_oldest_first(session: Session) -> None:
    for n, created in [(1, 10), (2, 20), (3, 20), (4, 30)]:
        builds.upsert_requested(session, make_build(n, created_at_ms=created))
    session.commit()
    first = builds.list_builds(session, newest_first=False, limit=2)
    assert _ids(first) == [object_id(1), object_id(2)]
    rest = builds.list_builds(
        session, newest_first=False, after=BuildCursor.of(first[-1]), limit=10
    )
    assert _ids(rest) == [object_id(3), object_id(4)]


def test_list_builds_filters(session: Session) -> None:
    builds.upsert_requested(session, make_build(1))
    builds.upsert_requested(session, make_build(2, requester=OTHER_REQUESTER))
    builds.upsert_requested(session, make_build(3))
    builds.advance_status(session, object_id(3), BuildStatus.FAILED)
    builds.set_step(session, object_id(1), BuildStep.BUILDING)
    session.commit()

    assert _ids(builds.list_builds(session, requester=OTHER_REQUESTER)) == [object_id(2)]
    assert _ids(builds.list_builds(session, requester=REQUESTER)) == [object_id(3), object_id(1)]
    assert _ids(builds.list_builds(session, status=BuildStatus.FAILED)) == [object_id(3)]
    assert _ids(builds.list_builds(session, step=BuildStep.BUILDING)) == [object_id(1)]
    assert _ids(builds.list_builds(session, requester=REQUESTER, status=BuildStatus.PENDING)) == [
        object_id(1)
    ]


@pytest.mark.parametrize("text", ["", "12", "abc.0x1", ".0x1", "12."])
def test_malformed_cursors_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        BuildCursor.decode(text)


# -- steps --------------------------------------------------------------------------------------


def test_set_step_with_owner_needs_the_lease(session: Session) -> None:
    _add(session, 1)
    assert builds.set_step(session, object_id(1), BuildStep.FETCHING, owner="r1") is False
    _claim(session, "r1", NOW)
    assert builds.set_step(session, object_id(1), BuildStep.FETCHING, owner="r2") is False
    assert builds.set_step(session, object_id(1), BuildStep.FETCHING, owner="r1") is True
    assert _must_get(session, 1).step is BuildStep.FETCHING
    assert builds.set_step(session, object_id(404), BuildStep.FETCHING) is False


# -- claims and leases --------------------------------------------------------------------------


def test_claim_takes_the_oldest_and_counts_the_attempt(session: Session) -> None:
    builds.upsert_requested(session, make_build(1, created_at_ms=300))
    builds.upsert_requested(session, make_build(2, created_at_ms=100))
    builds.upsert_requested(session, make_build(3, created_at_ms=200))
    session.commit()

    claimed = _claim(session, "r1", NOW)
    session.commit()
    assert claimed is not None
    assert claimed.request_id == object_id(2)
    assert claimed.attempts == 1
    assert claimed.lease_owner == "r1"
    assert claimed.lease_expires_at_ms == NOW + LEASE
    assert _must_get(session, 2).attempts == 1  # stored, not just returned


def test_a_held_lease_is_not_claimed_again(session: Session) -> None:
    _add(session, 1)
    assert _claim(session, "r1", NOW)
    session.commit()
    at_expiry = NOW + LEASE  # the lease still holds at its expiry instant
    for now in (NOW, at_expiry):
        assert _claim(session, "r2", now) is None
    assert _must_get(session, 1).lease_owner == "r1"


def test_an_expired_lease_is_reclaimed_and_counts_another_attempt(session: Session) -> None:
    _add(session, 1)
    _claim(session, "r1", NOW)
    session.commit()
    later = NOW + LEASE + 1
    again = _claim(session, "r2", later)
    session.commit()
    assert again is not None
    assert (again.request_id, again.lease_owner, again.attempts) == (object_id(1), "r2", 2)
    # The first owner lost it: it can neither renew nor release nor move the step.
    assert _renew(session, 1, "r1", later) is False
    assert builds.release_lease(session, object_id(1), owner="r1") is False
    assert builds.set_step(session, object_id(1), BuildStep.DONE, owner="r1") is False


def test_max_attempts_is_respected_and_exhausted_builds_are_listed(session: Session) -> None:
    _add(session, 1, 2)
    now = NOW
    for attempt in (1, 2):
        claimed = _claim(session, "r", now, max_attempts=2)
        assert claimed is not None
        assert (claimed.request_id, claimed.attempts) == (object_id(1), attempt)
        assert builds.exhausted(session, max_attempts=2, now_ms=now) == []
        now += LEASE + 1  # the runner dies: its lease expires
    session.commit()

    # Build 1 is out of attempts, so the next claim goes to build 2 ...
    other = _claim(session, "r", now, max_attempts=2)
    assert other is not None
    assert other.request_id == object_id(2)
    # ... and build 1 is reported for failing on chain, but only while nobody holds its lease.
    assert _ids(builds.exhausted(session, max_attempts=2, now_ms=now)) == [object_id(1)]
    assert builds.exhausted(session, max_attempts=2, now_ms=NOW + LEASE) == []
    assert builds.exhausted(session, max_attempts=3, now_ms=now) == []


def test_only_pending_unfinished_builds_are_claimed(session: Session) -> None:
    _add(session, 1, 2, 3)
    builds.advance_status(session, object_id(1), BuildStatus.CANCELLED)
    builds.set_step(session, object_id(2), BuildStep.DONE)  # submitted, result not indexed yet
    session.commit()
    claimed = _claim(session, "r", NOW)
    assert claimed is not None
    assert claimed.request_id == object_id(3)
    assert _claim(session, "r", NOW) is None


def test_renew_extends_only_the_owners_pending_lease(session: Session) -> None:
    _add(session, 1)
    _claim(session, "r1", NOW)
    later = NOW + LEASE // 2
    assert _renew(session, 1, "r2", later) is False
    assert _renew(session, 1, "r1", later) is True
    assert _must_get(session, 1).lease_expires_at_ms == later + LEASE
    # Still held at the first lease's expiry, because it was renewed.
    assert _claim(session, "r2", NOW + LEASE + 1) is None
    # Cancelled on chain: the renewal tells the runner to stop.
    builds.advance_status(session, object_id(1), BuildStatus.CANCELLED)
    assert _renew(session, 1, "r1", later) is False


def test_release_frees_the_build_without_refunding_the_attempt(session: Session) -> None:
    _add(session, 1)
    _claim(session, "r1", NOW)
    assert builds.release_lease(session, object_id(1), owner="r1") is True
    released = _must_get(session, 1)
    assert (released.lease_owner, released.lease_expires_at_ms) == (None, None)
    again = _claim(session, "r2", NOW)
    assert again is not None
    assert again.attempts == 2


def test_released_means_no_runner_holds_the_build(session: Session) -> None:
    _add(session, 1)
    assert builds.released(session, object_id(1), now_ms=NOW)  # never claimed
    assert builds.released(session, object_id(9), now_ms=NOW)  # unknown: nobody holds it
    _claim(session, "r1", NOW)
    assert not builds.released(session, object_id(1), now_ms=NOW + LEASE)  # holds at its expiry
    assert builds.released(session, object_id(1), now_ms=NOW + LEASE + 1)
    builds.release_lease(session, object_id(1), owner="r1")
    assert builds.released(session, object_id(1), now_ms=NOW)


def test_reap_clears_only_expired_leases(session: Session) -> None:
    _add(session, 1, 2)
    builds.claim_next(session, owner="old", lease_ms=10, max_attempts=3, now_ms=NOW)
    _claim(session, "new", NOW)
    assert builds.reap_expired_leases(session, now_ms=NOW + 11) == [object_id(1)]
    assert _must_get(session, 1).lease_owner is None
    assert _must_get(session, 2).lease_owner == "new"
    assert builds.reap_expired_leases(session, now_ms=NOW + 11) == []


def test_concurrent_claimers_never_share_a_build(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    total, workers = 24, 4
    _add(session, *range(1, total + 1))
    start = threading.Barrier(workers)

    def drain(worker: int) -> list[str]:
        mine: list[str] = []
        own = session_factory()
        start.wait()
        while True:
            claimed = builds.claim_next(
                own, owner=f"r{worker}", lease_ms=LEASE, max_attempts=3, now_ms=NOW
            )
            own.commit()
            if claimed is None:
                return mine
            mine.append(claimed.request_id)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(drain, range(workers)))

    claimed = [request_id for result in results for request_id in result]
    assert sorted(claimed) == [object_id(n) for n in range(1, total + 1)]  # each exactly once
    assert all(b.attempts == 1 for b in builds.list_builds(session, limit=total))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_claim_skips_a_locked_build_without_waiting(
    session_factory: Callable[[], Session],
) -> None:
    first, second = session_factory(), session_factory()
    _add(first, 1, 2)

    a = builds.claim_next(first, owner="a", lease_ms=LEASE, max_attempts=3, now_ms=NOW)
    assert a is not None
    assert a.request_id == object_id(1)
    # `first` has not committed: build 1 is locked. A waiting claimer would hit this timeout.
    second.connection().execute(sa.text("SET LOCAL lock_timeout = '2s'"))
    b = builds.claim_next(second, owner="b", lease_ms=LEASE, max_attempts=3, now_ms=NOW)
    assert b is not None
    assert b.request_id == object_id(2)
    assert builds.claim_next(second, owner="b", lease_ms=LEASE, max_attempts=3, now_ms=NOW) is None
    first.commit()
    second.commit()
