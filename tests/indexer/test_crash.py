"""Crash safety: an indexer process killed with SIGKILL at 20 random moments while the stand-in streams
thousands of events ends, after a final restart, with exactly the database of an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daas.db.engine import create_engine_for
from daas.db.migrate import upgrade
from emulator.sui.testing import DevChain, dev_chain
from indexer.grpc_source import GrpcCheckpointSource
from indexer.service import Indexer
from tests.fixtures.postgres import fresh_database
from tests.indexer.dbstate import snapshot, watermark
from tests.indexer.test_standin import settings_for
from tests.indexer.traffic import Enclave, produce

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
MIN_EVENTS = 2000
STARTED = b"indexing chain"


@pytest.fixture
def reference_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second empty database of the same engine, for the uninterrupted run."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield url


def _environment(chain: DevChain, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    env.update(
        DAAS_DATABASE_URL=db_url,
        DAAS_CHAIN__GRPC_URL=chain.standin.url,
        DAAS_CHAIN__PACKAGE_ID=chain.standin.package_id,
        DAAS_CHAIN__CHAIN_ID=chain.standin.chain_id,
        DAAS_INDEXER__BATCH_CHECKPOINTS="20",
        DAAS_INDEXER__PROGRESS_INTERVAL_S="1",
        DAAS_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    return env


async def _spawn(env: dict[str, str], log: Path, *args: str) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daas.cli", "indexer", *args,
            env=env, cwd=ROOT, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip


async def _until_started(process: asyncio.subprocess.Process, log: Path) -> None:
    async with asyncio.timeout(20):
        while STARTED not in await asyncio.to_thread(log.read_bytes):
            if process.returncode is not None:
                text = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"the indexer exited early:\n{text}")
            await asyncio.sleep(0.01)


async def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    db_url: str, reference_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("DAAS_TEST_SEED", time.time_ns()))
    print(f"kill moments drawn with DAAS_TEST_SEED={seed}")  # shown if the test fails
    rng = random.Random(seed)
    engine = create_engine_for(db_url)
    reference = create_engine_for(reference_url)
    upgrade(engine)
    upgrade(reference)
    try:
        async with dev_chain(users=4, checkpoint_interval_s=0.05) as chain:
            env = _environment(chain, db_url)
            enclave = await Enclave.register(chain)
            kills_done = asyncio.Event()
            marks: list[int | None] = []

            async def kill_repeatedly() -> None:
                for attempt in range(KILLS):
                    log = tmp_path / f"run-{attempt}.log"
                    process = await _spawn(env, log)
                    await _until_started(process, log)
                    await asyncio.sleep(rng.uniform(0.0, 0.45))
                    process.send_signal(signal.SIGKILL)
                    assert await process.wait() == -signal.SIGKILL
                    marks.append(watermark(engine))
                kills_done.set()

            async with asyncio.timeout(120), asyncio.TaskGroup() as group:
                group.create_task(kill_repeatedly())
                produced = await produce(
                    chain,
                    enclave,
                    until=lambda n: kills_done.is_set() and n >= MIN_EVENTS,
                )
            last = (await chain.standin.cut_checkpoint()).sequence_number
            # The watermark advanced between kills, so kills landed mid-stream, not only at start-up.
            assert len({m for m in marks if m is not None}) >= KILLS // 2

            log = tmp_path / "final.log"
            final = await _spawn(env, log, "--last-checkpoint", str(last))
            async with asyncio.timeout(60):
                assert await final.wait() == 0, log.read_text()

            async with GrpcCheckpointSource(chain.standin.url) as source:
                uninterrupted = Indexer(
                    settings_for(chain, reference, batch_checkpoints=20),
                    engine=reference,
                    source=source,
                    last_checkpoint=last,
                )
                async with asyncio.timeout(60):
                    await uninterrupted.run()

        crashed, clean = snapshot(engine), snapshot(reference)
        assert len(clean["builds"]) >= MIN_EVENTS * 0.8
        assert len(clean["build_events"]) == produced
        assert crashed == clean
    finally:
        engine.dispose()
        reference.dispose()
