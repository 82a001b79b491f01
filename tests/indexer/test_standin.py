"""The indexer against the Sui stand-in over real gRPC on loopback: its own frame reader, pysui's client,
real `request_build` / `complete` transactions, injected stream drops and pruning."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from daas.chain.ports import CHECKPOINT_EVENTS_MASK
from daas.chain.types import Checkpoint
from daas.config import Settings, load_settings
from daas.db.engine import session_scope
from daas.db.models import BuildStatus
from daas.db.repos import builds, enclaves, events
from daas.errors import CheckpointPruned
from emulator.sui.testing import DevChain, dev_chain
from indexer.grpc_source import GrpcCheckpointSource
from indexer.ingestion import IngestionConfig
from indexer.service import Indexer
from tests.indexer.traffic import Enclave, produce, request_build

pytestmark = pytest.mark.anyio

FAST = IngestionConfig(reconnect_initial_s=0.01, reconnect_max_s=0.05)


@pytest.fixture
async def chain() -> AsyncIterator[DevChain]:
    async with dev_chain(users=2, checkpoint_interval_s=0.02) as running:
        yield running


def settings_for(chain: DevChain, engine: sa.Engine, **indexer: Any) -> Settings:
    return load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        chain={
            "grpc_url": chain.standin.url,
            "package_id": chain.standin.package_id,
            "chain_id": chain.standin.chain_id,
        },
        indexer={"progress_interval_s": 60.0, **indexer},
    )


def _plain(checkpoint: Checkpoint) -> Checkpoint:
    """Without what only pysui's client adds (decoded events)."""
    return dataclasses.replace(
        checkpoint,
        transactions=tuple(
            dataclasses.replace(
                tx, events=tuple(dataclasses.replace(e, decoded=None) for e in tx.events)
            )
            for tx in checkpoint.transactions
        ),
    )


async def test_frame_reader_reads_what_pysui_reads() -> None:
    async with dev_chain(users=2, checkpoint_interval_s=None) as chain:
        await request_build(chain)
        await request_build(chain, 1)
        checkpoint = await chain.standin.cut_checkpoint()
        await _compare(chain, checkpoint.sequence_number, checkpoint.timestamp_ms)


async def _compare(chain: DevChain, sequence: int, timestamp_ms: int) -> None:
    async with GrpcCheckpointSource(chain.standin.url) as source:
        info = await source.service_info()
        assert info.chain_id == chain.standin.chain_id
        assert info.checkpoint_height == sequence
        ours = await source.get_checkpoint(sequence)
        theirs = await chain.client.get_checkpoint(sequence)
        assert ours == _plain(theirs)
        assert sum(len(tx.events) for tx in ours.transactions) == 2
        assert ours.timestamp_ms == timestamp_ms
        stream = source.subscribe_checkpoints()
        first = await anext(stream)
        await chain.standin.cut_checkpoint()
        second = await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        assert (first.sequence_number, second.sequence_number) == (sequence, sequence + 1)


async def test_pruned_checkpoints_are_reported_as_pruned(chain: DevChain) -> None:
    await chain.standin.wait_for_checkpoint(3)
    chain.standin.prune_below(2)
    async with GrpcCheckpointSource(chain.standin.url) as source:
        with pytest.raises(CheckpointPruned, match="lowest available: 2"):
            await source.get_checkpoint(1, read_mask=CHECKPOINT_EVENTS_MASK)


@pytest.mark.parametrize("reader", ["frames", "pysui"])
async def test_live_requests_and_results_with_stream_drops(
    chain: DevChain, engine: sa.Engine, reader: str
) -> None:
    enclave = await Enclave.register(chain)
    chain.standin.set_faults(stream_drop_after=4, seed=1)
    settings = settings_for(chain, engine, batch_checkpoints=5)
    source: Any = GrpcCheckpointSource(chain.standin.url) if reader == "frames" else chain.client
    indexer = Indexer(settings, engine=engine, source=source, ingestion=FAST)
    async with asyncio.timeout(30), asyncio.TaskGroup() as group:
        group.create_task(indexer.run())
        produced = await produce(chain, enclave, until=lambda n: n >= 60, complete_every=5)
        # Stop once everything produced so far is committed (the timer keeps cutting checkpoints).
        indexer.last_checkpoint = (await chain.standin.cut_checkpoint()).sequence_number
    if reader == "frames":
        source.close()
    assert indexer.metrics.reconnects.total() >= 2
    with session_scope(engine) as session:
        rows = builds.list_builds(session, limit=1000)
        done = [b for b in rows if b.status is BuildStatus.SUCCEEDED]
        assert len(rows) + len(done) == produced
        assert len(events.list_after(session, limit=1000)) == produced
        assert enclaves.get(session, enclave.enclave_id) is not None
