"""The runner's database parts on SQLite and PostgreSQL: the layer cache, build artifacts, lease housekeeping,
the batched build log and the lease keeper."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, BuildStatus, BuildStep, EventKind, LayerBlob
from daas.db.notify import Wakeup
from daas.db.repos import artifacts, builds, events, layers, leases, logs
from daas.image.cache import CachedLayer
from daas.image.index import BlobEntry, ChunkRef
from runner.buildlog import BuildLog
from runner.layer_cache import DbLayerCache
from runner.lease import LeaseKeeper
from runner.outcome import Outcome
from tests.db.helpers import make_build, object_id

pytestmark = pytest.mark.anyio

DIFF_ID = "sha256:" + "d" * 64
ENTRY = BlobEntry(
    "sha256:" + "e" * 64,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    30,
    (ChunkRef("A" * 43, 10, "1" * 64), ChunkRef("B" * 43, 20, "2" * 64)),
)


def add_builds(engine: sa.Engine, *numbers: int) -> None:
    with session_scope(engine) as session:
        builds.upsert_requested_many(session, [make_build(n) for n in numbers])
        session.commit()


async def test_layer_cache_round_trip(engine: sa.Engine) -> None:
    cache = DbLayerCache(engine)
    assert await cache.get(DIFF_ID) is None
    await cache.put(DIFF_ID, CachedLayer(ENTRY, 4096))
    assert await cache.get(DIFF_ID) == CachedLayer(ENTRY, 4096)
    replaced = BlobEntry(ENTRY.digest, ENTRY.media_type, 10, ENTRY.chunks[:1])
    await cache.put(DIFF_ID, CachedLayer(replaced, 4096))
    assert await cache.get(DIFF_ID) == CachedLayer(replaced, 4096)
    # A row that no longer decodes is treated as absent (the layer is stored again).
    with session_scope(engine) as session:
        session.execute(
            sa.update(LayerBlob).values(chunks=[{"blobId": "x", "size": 99, "sha256": "00"}])
        )
        session.commit()
    assert await cache.get(DIFF_ID) is None
    with session_scope(engine) as session:
        assert layers.forget(session, DIFF_ID) and not layers.forget(session, DIFF_ID)


def test_artifacts_are_kept_per_build_and_kind(session: Session) -> None:
    session.add(make_build(1))
    session.flush()
    build_id = object_id(1)
    common = {"sha256": "ab" * 32, "size": 10, "media_type": "application/yaml"}
    artifacts.put(
        session, build_id, ArtifactKind.KUBERNETES, blob_id="k1", content="a: 1", **common
    )
    artifacts.put(session, build_id, ArtifactKind.LOG, blob_id="l1", **common)
    artifacts.put(
        session, build_id, ArtifactKind.KUBERNETES, blob_id="k2", content="a: 2", **common
    )
    found = artifacts.get(session, build_id, ArtifactKind.KUBERNETES)
    assert found is not None and (found.blob_id, found.content) == ("k2", "a: 2")
    assert [a.kind for a in artifacts.list_for(session, build_id)] == [
        ArtifactKind.KUBERNETES,
        ArtifactKind.LOG,
    ]


def test_lease_housekeeping(session: Session) -> None:
    for n in (1, 2, 3):
        session.add(make_build(n))
    session.flush()
    now = 1_800_000_000_000
    one, two, three = object_id(1), object_id(2), object_id(3)
    # take: leases a named build without counting an attempt, only when nobody holds it.
    taken = leases.take(session, one, owner="r1", lease_ms=1000, now_ms=now)
    assert taken is not None and taken.attempts == 0 and taken.lease_owner == "r1"
    assert leases.take(session, one, owner="r2", lease_ms=1000, now_ms=now + 500) is None
    assert leases.take(session, one, owner="r2", lease_ms=1000, now_ms=now + 1001) is not None
    # requeue_abandoned: an active step without a live lease goes back to queued.
    builds.set_step(session, one, BuildStep.BUILDING)
    builds.set_step(session, two, BuildStep.EXPORTING)
    assert leases.requeue_abandoned(session, now_ms=now + 1500) == [two]  # one's lease lives
    assert leases.requeue_abandoned(session, now_ms=now + 3000) == [one]
    # unconfirmed / reopen: done but still pending after a while.
    builds.set_step(session, three, BuildStep.DONE, now_ms=now)
    assert leases.unconfirmed(session, older_than_ms=60_000, now_ms=now + 1000) == []
    late = leases.unconfirmed(session, older_than_ms=60_000, now_ms=now + 61_000)
    assert [b.request_id for b in late] == [three]
    assert leases.reopen(session, three) and not leases.reopen(session, three)
    build = builds.get(session, three)
    assert build is not None and build.step is BuildStep.QUEUED


async def test_build_log_numbers_batches_and_caps(engine: sa.Engine) -> None:
    add_builds(engine, 1)
    build_id = object_id(1)
    with session_scope(engine) as session:  # an earlier attempt left two lines
        logs.append_lines(session, build_id, [logs.LogLine(0, "a"), logs.LogLine(1, "b")])
        session.commit()
    log = await BuildLog.open(engine, build_id, batch_lines=3, max_lines=7, flush_interval_s=0.02)
    assert log.first_line == 2
    async with anyio.create_task_group() as tg:
        tg.start_soon(log.run)
        for n in range(10):
            await log.line("stdout" if n % 2 else "stderr", f"line {n}")
        await log.system("done")
        await log.flush()
        tg.cancel_scope.cancel()
    await log.close()
    with session_scope(engine) as session:
        lines = logs.read(session, build_id)
        log_events = [
            e for e in events.list_after(session, build_id=build_id) if e.kind is EventKind.LOG
        ]
    assert [line.line_no for line in lines] == list(range(10))
    assert [line.text for line in lines[2:9]] == [f"line {n}" for n in range(7)]
    assert lines[9].text.startswith("[4 more lines") and lines[9].stream.value == "system"
    payload_lines = [item for e in log_events for item in e.payload["lines"]]
    assert [item["line"] for item in payload_lines] == list(range(2, 10))
    assert all(len(e.payload["lines"]) <= 4 * 3 for e in log_events)  # back-pressure bound
    assert log_events[0].payload["first_line"] == 2


async def test_lease_keeper_renews_and_stops_on_cancellation(
    engine: sa.Engine, session_factory: Callable[[], Session]
) -> None:
    add_builds(engine, 1, 2)
    one, two = object_id(1), object_id(2)
    with session_scope(engine) as session:
        for _ in (one, two):
            builds.claim_next(session, owner="me", lease_ms=600, max_attempts=3)
        session.commit()
    changes = Wakeup()

    keeper = LeaseKeeper(engine, one, owner="me", lease_ms=600, changes=changes)
    with anyio.move_on_after(1.3):
        with anyio.CancelScope() as work:
            async with anyio.create_task_group() as tg:
                tg.start_soon(keeper.run, work)
                await anyio.sleep(10)
    assert not work.cancelled_caught and keeper.renewals >= 2 and keeper.reason is None

    # The indexer records the cancellation and announces it: the work stops at once.
    keeper = LeaseKeeper(engine, two, owner="me", lease_ms=60_000, changes=changes)
    started = time.monotonic()
    with anyio.CancelScope() as work:
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run, work)
            await anyio.sleep(0.1)
            with session_scope(engine) as session:
                builds.advance_status(session, two, BuildStatus.CANCELLED)
                session.commit()
            changes.fire()
            await anyio.sleep(10)
    assert work.cancelled_caught and keeper.reason is Outcome.CANCELLED
    assert time.monotonic() - started < 2


async def test_lease_keeper_stops_when_another_runner_took_the_lease(engine: sa.Engine) -> None:
    add_builds(engine, 1)
    with session_scope(engine) as session:
        builds.claim_next(session, owner="me", lease_ms=1000, max_attempts=3)
        session.commit()
    with session_scope(engine) as session:  # our lease ran out and someone else claimed the build
        builds.claim_next(
            session,
            owner="other",
            lease_ms=60_000,
            max_attempts=3,
            now_ms=int(time.time() * 1000) + 2000,
        )
        session.commit()
    keeper = LeaseKeeper(engine, object_id(1), owner="me", lease_ms=1000, changes=Wakeup())
    with anyio.fail_after(5), anyio.CancelScope() as work:
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run, work)
            await anyio.sleep(10)
    assert work.cancelled_caught and keeper.reason is Outcome.LEASE_LOST
