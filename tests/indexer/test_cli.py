"""`daas indexer` as a process: a bounded run, metrics over HTTP, SIGTERM, and refusals at start-up."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from emulator.sui.testing import DevChain, dev_chain
from tests.indexer.dbstate import watermark
from tests.indexer.test_crash import ROOT, _environment
from tests.indexer.traffic import request_build

pytestmark = pytest.mark.anyio


@pytest.fixture
async def chain() -> AsyncIterator[DevChain]:
    async with dev_chain(users=1, checkpoint_interval_s=0.05) as running:
        yield running


async def _daas(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daas.cli", "indexer", *args,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_bounded_run_then_refusals(chain: DevChain, engine: sa.Engine, db_url: str) -> None:
    await request_build(chain)
    last = (await chain.standin.cut_checkpoint()).sequence_number
    env = _environment(chain, db_url)
    process = await _daas(env, "--last-checkpoint", str(last))
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert watermark(engine) == last
    assert b"indexer stopped at checkpoint" in err

    gap = await _daas(env, "--first-checkpoint", str(last + 5))
    _, err = await asyncio.wait_for(gap.communicate(), 60)
    assert gap.returncode == 2
    assert b"would leave checkpoints" in err

    wrong = await _daas({**env, "DAAS_CHAIN__CHAIN_ID": "AnotherChain"})
    _, err = await asyncio.wait_for(wrong.communicate(), 60)
    assert wrong.returncode == 1
    assert b"AnotherChain" in err and b"expects" in err


async def test_metrics_and_graceful_stop(
    chain: DevChain, engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    env = _environment(chain, db_url)
    process = await _daas(env, "--metrics-port", "0")
    assert process.stderr is not None
    port = None
    async with asyncio.timeout(30):
        while port is None:
            line = (await process.stderr.readline()).decode()
            assert line, "the indexer exited"
            if "metrics on http://" in line:
                port = int(line.rsplit(":", 1)[1].split("/")[0])
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            body = await reader.read()
            writer.close()
            await writer.wait_closed()
            if b"\ndaas_indexer_watermark " in body:  # a sample, not the HELP line
                break
            await asyncio.sleep(0.05)
    assert b"daas_indexer_lag_checkpoints" in body
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert watermark(engine) is not None
