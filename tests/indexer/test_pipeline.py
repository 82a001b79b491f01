"""The pipeline end to end against an in-memory chain, on SQLite and PostgreSQL.

Covers: rows, statuses and SSE events from each event type; exactly-once across restarts; stream ends, stream
errors and cursor jumps mid-batch; pruned ranges read from the archive (or a clear stop without one); the
chain id check; malformed, unknown and foreign events; package upgrades; back-pressure; commit failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from daas.config import Settings
from daas.db.engine import session_scope
from daas.db.models import BuildStatus, EventKind
from daas.db.notify import Wakeup
from daas.db.repos import builds, enclaves, events, rejected, watermarks
from daas.errors import ChainIdMismatch, ConfigError, DatabaseError
from indexer.ingestion import ArchiveMissing, IngestionConfig
from indexer.metrics import IndexerMetrics
from indexer.service import Indexer
from tests.indexer.dbstate import snapshot, watermark
from tests.indexer.fakes import (
    OTHER_PACKAGE,
    PACKAGE,
    FakeChain,
    RawEvent,
    cancelled,
    enclave_destroyed,
    enclave_registered,
    event_type,
    failed,
    object_id,
    registry_updated,
    requested,
    succeeded,
)

pytestmark = pytest.mark.anyio

FAST = IngestionConfig(reconnect_initial_s=0.001, reconnect_max_s=0.01)
MakeSettings = Callable[..., Settings]


async def index(
    settings: Settings,
    engine: sa.Engine,
    chain: FakeChain,
    last: int | None = None,
    **kwargs: Any,
) -> Indexer:
    """Run an indexer until checkpoint `last` (default: the chain's tip) is committed."""
    kwargs.setdefault("ingestion", FAST)
    indexer = Indexer(
        settings,
        engine=engine,
        source=chain,
        last_checkpoint=chain.tip if last is None else last,
        **kwargs,
    )
    async with asyncio.timeout(20):
        await indexer.run()
    return indexer


def mixed_chain() -> FakeChain:
    chain = FakeChain()
    chain.append([[registry_updated()], [enclave_registered(1)]])
    chain.append([[requested(1)], [requested(2)], [requested(3), requested(4)]])
    chain.append([[succeeded(1)], [failed(2, code=110)]])
    chain.append([[cancelled(3)], [enclave_destroyed(1)]])
    chain.append([[succeeded(3)]])  # too late: 3 is cancelled, a final status never changes
    return chain


async def test_each_event_type_becomes_rows_and_events(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = mixed_chain()
    wakeup = Wakeup()
    seen = wakeup.generation
    indexer = await index(make_settings(), engine, chain, wakeup=wakeup)

    with session_scope(engine) as session:
        rows = {b.request_id: b for b in builds.list_builds(session, newest_first=False)}
        assert [rows[object_id(n)].status for n in (1, 2, 3, 4)] == [
            BuildStatus.SUCCEEDED,
            BuildStatus.FAILED,
            BuildStatus.CANCELLED,
            BuildStatus.PENDING,
        ]
        one = rows[object_id(1)]
        assert one.image_index_blob_id == "index-1"
        assert one.source_blob_id == "blob-1"
        assert one.request_checkpoint == 2 and one.result_checkpoint == 3
        assert rows[object_id(2)].error_code == 110
        assert rows[object_id(2)].error_message == "build step failed"
        feed = events.list_after(session)
        assert [(e.build_id, e.kind, e.payload["status"]) for e in feed] == [
            (object_id(1), EventKind.STATUS, "pending"),
            (object_id(2), EventKind.STATUS, "pending"),
            (object_id(3), EventKind.STATUS, "pending"),
            (object_id(4), EventKind.STATUS, "pending"),
            (object_id(1), EventKind.RESULT, "succeeded"),
            (object_id(2), EventKind.RESULT, "failed"),
            (object_id(3), EventKind.STATUS, "cancelled"),
        ]
        assert feed[0].payload == {
            "status": "pending",
            "source": "chain",
            "checkpoint": 2,
            "tx_digest": rows[object_id(1)].request_tx_digest,
            "chain_timestamp_ms": chain.checkpoints[2].timestamp_ms,
            "final": False,
        }
        assert set(feed[4].payload) >= set(feed[0].payload) | {"image_digest", "fee_paid"}
        assert feed[4].payload["image_digest"] == rows[object_id(1)].image_digest
        assert feed[4].payload["final"] is True and feed[0].payload["final"] is False
        enclave = enclaves.get(session, object_id(0xE001))
        assert enclave is not None and enclave.debug and enclave.destroyed
        mark = watermarks.get(session, "daas_events")
        assert mark is not None and mark.checkpoint_hi_inclusive == chain.tip
    assert wakeup.generation > seen
    assert indexer.metrics.events.value("BuildRequested") == 4
    assert indexer.metrics.events.value("BuildSucceeded") == 2
    assert indexer.metrics.watermark.value() == chain.tip


async def test_restarts_resume_without_gaps_or_duplicates(
    make_settings: MakeSettings, engine: sa.Engine, session_factory: Callable[..., Any]
) -> None:
    chain = mixed_chain()
    settings = make_settings(batch_checkpoints=2)
    await index(settings, engine, chain, last=2)
    assert watermark(engine) == 2
    await index(settings, engine, chain, last=3)
    chain.append_many(5, 3, first_request=100)
    await index(settings, engine, chain)
    await index(settings, engine, chain)  # nothing new: returns at once
    once = snapshot(engine)

    fresh = FakeChain()
    fresh.checkpoints = chain.checkpoints
    with session_scope(engine) as session:
        session.execute(sa.text("DELETE FROM build_events"))
        session.execute(sa.text("DELETE FROM enclaves"))
        session.execute(sa.text("DELETE FROM builds"))
        session.execute(sa.text("DELETE FROM watermarks"))
        session.commit()
    await index(make_settings(batch_checkpoints=100), engine, fresh, last=chain.tip)
    assert snapshot(engine) == once


async def test_replayed_batches_change_nothing(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    """Replays are harmless even past the watermark's guard: rows and events are keyed by their effect."""
    chain = mixed_chain()
    settings = make_settings()
    await index(settings, engine, chain)
    before = snapshot(engine)
    with session_scope(engine) as session:
        session.execute(sa.text("DELETE FROM watermarks"))
        session.commit()
    await index(settings, engine, chain)
    assert snapshot(engine) == before


@pytest.mark.parametrize("fault", ["stream_end_after", "stream_error_after"])
async def test_stream_drops_mid_batch(
    make_settings: MakeSettings, engine: sa.Engine, fault: str
) -> None:
    chain = FakeChain()
    settings = make_settings(batch_checkpoints=7)
    setattr(chain.faults, fault, 3)
    chain.faults.unavailable_calls = 2

    async def produce() -> None:
        for n in range(40):
            chain.append([[requested(n)], [requested(1000 + n)]])
            await asyncio.sleep(0.001)

    indexer = Indexer(settings, engine=engine, source=chain, last_checkpoint=40, ingestion=FAST)
    async with asyncio.timeout(20), asyncio.TaskGroup() as group:
        group.create_task(indexer.run())
        group.create_task(produce())
    assert watermark(engine) == 40
    with session_scope(engine) as session:
        assert len(builds.list_builds(session, limit=1000)) == 80
        assert len(events.list_after(session, limit=1000)) == 80
    assert indexer.metrics.reconnects.total() >= 5


async def test_cursor_jump_reconnects_and_backfills(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.faults.skip_on_stream = {5, 9}

    async def produce() -> None:
        for n in range(12):
            await asyncio.sleep(0.005)
            chain.append([[requested(n)]])

    indexer = Indexer(
        make_settings(), engine=engine, source=chain, last_checkpoint=12, ingestion=FAST
    )
    async with asyncio.timeout(20), asyncio.TaskGroup() as group:
        group.create_task(indexer.run())
        group.create_task(produce())
    assert indexer.metrics.reconnects.value("cursor_jump") == 2
    assert "get:5" in chain.calls and "get:9" in chain.calls
    with session_scope(engine) as session:
        assert len(builds.list_builds(session, limit=100)) == 12


async def test_pruned_range_is_read_from_the_archive(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(10, 2)
    archive = FakeChain()
    archive.checkpoints = dict(chain.checkpoints)
    chain.prune_below(6)
    indexer = await index(make_settings(), engine, chain, archive=archive)
    assert indexer.metrics.archive_reads.total() == 6
    assert {c for c in archive.calls if c.startswith("get:")} == {f"get:{n}" for n in range(6)}
    with session_scope(engine) as session:
        assert len(builds.list_builds(session, limit=100)) == 20


async def test_pruned_range_without_archive_stops_with_a_message(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(5)
    chain.prune_below(3)
    with pytest.raises(ArchiveMissing, match=r"chain\.archive_grpc_url"):
        await index(make_settings(), engine, chain)
    assert watermark(engine) is None  # nothing below the gap was committed either


async def test_wrong_chain_id_is_refused(make_settings: MakeSettings, engine: sa.Engine) -> None:
    chain = FakeChain(chain_id="SomeOtherChain")
    with pytest.raises(ChainIdMismatch, match="SomeOtherChain"):
        await index(make_settings(), engine, chain)
    assert chain.calls == ["service_info"]


async def test_a_database_of_another_chain_is_refused(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    """A localnet re-created from genesis has a new chain id: its rows must not mix with the old one's."""
    unpinned = make_settings(chain={"chain_id": None})
    first = FakeChain(chain_id="FirstChain")
    first.append_many(3)
    await index(unpinned, engine, first)
    before = snapshot(engine)

    second = FakeChain(chain_id="SecondChain")
    second.append_many(5)
    with pytest.raises(ChainIdMismatch, match="indexed chain FirstChain") as info:
        await index(unpinned, engine, second)
    assert "SecondChain" in str(info.value) and "new database" in str(info.value)
    assert snapshot(engine) == before  # nothing of the second chain was written

    # The recorded chain resumes as before.
    first.append_many(2)
    await index(unpinned, engine, first)
    assert watermark(engine) == first.tip


async def test_archive_of_another_chain_is_refused(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(4)
    archive = FakeChain(chain_id="SomeOtherChain")
    chain.prune_below(2)
    with pytest.raises(ChainIdMismatch, match="archival endpoint"):
        await index(make_settings(), engine, chain, archive=archive)


async def test_malformed_and_unknown_events_are_kept_raw(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    good = requested(1).to_bcs()
    chain.append(
        [
            [
                RawEvent(event_type("builds::BuildRequested"), good[:-3]),  # truncated
                RawEvent(event_type("builds::BuildRequested"), good + b"\x00"),  # trailing byte
                RawEvent(event_type("builds::BuildPaused"), b"\x01\x02"),  # a newer version's event
            ],
            [requested(2)],
        ]
    )
    chain.append([[requested(3)]])
    indexer = await index(make_settings(), engine, chain)
    with session_scope(engine) as session:
        kept = sorted(rejected.list_recent(session), key=lambda r: r.event_seq)
        assert [(r.event_seq, r.checkpoint) for r in kept] == [(0, 1), (1, 1), (2, 1)]
        assert kept[0].raw_bcs == good[:-3] and "truncated" in kept[0].reason
        assert "trailing" in kept[1].reason
        assert (
            kept[2].raw_bcs == b"\x01\x02" and "unknown event builds::BuildPaused" in kept[2].reason
        )
        assert [b.request_id for b in builds.list_builds(session, newest_first=False)] == [
            object_id(2),
            object_id(3),
        ]
    assert indexer.metrics.rejected.value("malformed") == 2
    assert indexer.metrics.rejected.value("unknown_type") == 1


async def test_values_the_database_cannot_hold_are_rejected(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    import dataclasses

    chain = FakeChain()
    nul = dataclasses.replace(requested(1), dockerfile_path="Docker\x00file")
    huge = dataclasses.replace(requested(2), fee=2**64 - 1)
    long = dataclasses.replace(requested(3), platform="x" * 33)
    chain.append([[nul], [huge], [long], [requested(4)]])
    await index(make_settings(), engine, chain)
    with session_scope(engine) as session:
        reasons = sorted(r.reason for r in rejected.list_recent(session))
        assert len(reasons) == 3
        assert any("NUL" in r for r in reasons) and any("64-bit" in r for r in reasons)
        assert [b.request_id for b in builds.list_builds(session)] == [object_id(4)]


async def test_events_of_other_packages_are_ignored(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    foreign = requested(1)
    chain.append(
        [
            [RawEvent(event_type(foreign, OTHER_PACKAGE), foreign.to_bcs())],
            [RawEvent(f"{OTHER_PACKAGE}::builds::Whatever", b"")],
            [RawEvent("0x2::coin::CoinEvent<0x2::sui::SUI>", b"\xff")],
            [RawEvent("not a type", b"")],
            [requested(2)],
        ]
    )
    indexer = await index(make_settings(), engine, chain)
    with session_scope(engine) as session:
        assert [b.request_id for b in builds.list_builds(session)] == [object_id(2)]
        assert rejected.count(session) == 0
    assert indexer.metrics.events.total() == 1


async def test_types_of_an_upgraded_package(make_settings: MakeSettings, engine: sa.Engine) -> None:
    """Old types keep the original id after an upgrade; an upgrade's new types carry the new id."""
    upgraded = "0x" + "d1" * 32
    chain = FakeChain()
    chain.append(
        [
            [requested(1)],  # emitted by upgraded code, defined by the original package
            [RawEvent(event_type(requested(2), upgraded), requested(2).to_bcs())],
        ]
    )
    await index(make_settings(), engine, chain, extra_package_ids=[upgraded])
    with session_scope(engine) as session:
        assert len(builds.list_builds(session)) == 2


async def test_upgraded_package_ids_from_settings(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    upgraded = "0x" + "d2" * 32
    chain = FakeChain()
    chain.append([[RawEvent(event_type(requested(3), upgraded), requested(3).to_bcs())]])
    await index(make_settings(chain={"extra_package_ids": [upgraded]}), engine, chain)
    with session_scope(engine) as session:
        assert [b.request_id for b in builds.list_builds(session)] == [object_id(3)]


async def test_generic_types_of_our_package_are_unknown(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append([[RawEvent(f"{PACKAGE}::builds::Wrapped<u64>", b"\x05")]])
    await index(make_settings(), engine, chain)
    with session_scope(engine) as session:
        (kept,) = rejected.list_recent(session)
        assert "unknown event" in kept.reason


async def test_commit_failure_between_rows_and_watermark_leaves_neither(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(6, 2)
    observed: list[tuple[int, int | None]] = []

    def fail_once(point: str) -> None:
        if point == "events" and not observed:
            with engine.connect() as other:  # what another connection sees meanwhile: nothing yet
                count = other.execute(sa.text("SELECT count(*) FROM builds")).scalar_one()
            observed.append((count, watermark(engine)))
            raise DatabaseError("injected failure between rows and watermark")

    indexer = await index(make_settings(), engine, chain, fault=fail_once)
    assert observed == [(0, None)]
    assert indexer.metrics.commit_failures.total() == 1
    with session_scope(engine) as session:
        assert len(builds.list_builds(session, limit=100)) == 12
        assert len(events.list_after(session, limit=100)) == 12


async def test_first_checkpoint_only_for_a_new_pipeline(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(8)
    await index(make_settings(first_checkpoint=5), engine, chain, last=6)
    with session_scope(engine) as session:
        assert [b.request_checkpoint for b in builds.list_builds(session, newest_first=False)] == [
            5,
            6,
        ]
    # Below the watermark: ignored (resumes at 7); beyond watermark + 1: a gap, refused.
    await index(make_settings(first_checkpoint=2), engine, chain, last=7)
    assert watermark(engine) == 7
    with pytest.raises(ConfigError, match=r"would leave checkpoints 8\.\.8 unindexed"):
        await index(make_settings(first_checkpoint=9), engine, chain)


async def test_fetching_never_runs_more_than_max_ahead(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(60)
    settings = make_settings(max_ahead=5, batch_checkpoints=2)
    indexer = Indexer(settings, engine=engine, source=chain, last_checkpoint=60, ingestion=FAST)
    worst: list[int] = []

    def check(sequence: int) -> None:
        assert indexer.committed is not None
        worst.append(sequence - indexer.committed)

    def slow(point: str) -> None:
        if point == "rows":
            import time

            time.sleep(0.002)

    chain.on_get = check
    indexer.fault = slow
    async with asyncio.timeout(20):
        await indexer.run()
    assert max(worst) <= 5
    assert watermark(engine) == 60


async def test_stop_finishes_the_commit_in_flight(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    chain = FakeChain()
    chain.append_many(30)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_during_commit(point: str) -> None:
        if point == "rows":  # the signal arrives while this transaction is being written
            loop.call_soon_threadsafe(stop.set)

    indexer = Indexer(
        make_settings(batch_checkpoints=4),
        engine=engine,
        source=chain,
        fault=stop_during_commit,
        ingestion=FAST,
    )
    async with asyncio.timeout(20):
        await indexer.run(stop)
    mark = watermark(engine)
    assert mark is not None and mark == indexer.committed
    with session_scope(engine) as session:
        assert len(builds.list_builds(session, limit=100)) == mark


async def test_metrics_follow_the_pipeline(make_settings: MakeSettings, engine: sa.Engine) -> None:
    chain = mixed_chain()
    metrics = IndexerMetrics()
    await index(make_settings(), engine, chain, metrics=metrics)
    text = metrics.registry.render()
    assert f"daas_indexer_watermark {chain.tip}" in text
    assert 'daas_indexer_events_total{type="BuildRequested"} 4' in text
    assert "daas_indexer_lag_checkpoints 0" in text
    assert metrics.latency.count() == chain.tip + 1


async def test_text_with_quotes_and_braces_round_trips(
    make_settings: MakeSettings, engine: sa.Engine
) -> None:
    """PostgreSQL rows go in as array literals; every character must survive the quoting."""
    import dataclasses

    chain = FakeChain()
    awkward = "a\"b\\c{d},e NULL 'f' ü ✓"
    chain.append([[dataclasses.replace(requested(1), dockerfile_path=awkward, platform="NULL")]])
    await index(make_settings(), engine, chain)
    with session_scope(engine) as session:
        (build,) = builds.list_builds(session)
        assert (build.dockerfile_path, build.platform) == (awkward, "NULL")
        (event,) = events.list_after(session)
        assert event.payload["status"] == "pending"
