"""The runner under faults: Walrus and the Sui node failing 30% of requests, and a runner process killed with
SIGKILL mid-build (another runner process finishes it; exactly one result reaches the chain)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import anyio
import docker
import pytest
import sqlalchemy as sa

from daas.chain.codecs import RequestStatus
from daas.db.engine import create_engine_for, session_scope
from daas.db.migrate import upgrade
from daas.db.models import BuildStatus, BuildStep, EventKind
from daas.db.repos import heartbeats
from emulator.walrus import Faults as WalrusFaults
from tests.runner.harness import Stack, dockerfile, kill, running_stack

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_walrus_and_node_faults_at_30_percent(
    sqlite_engine: sa.Engine,
    tmp_path: Path,
    docker_client: docker.DockerClient,
    base_image: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_stack(sqlite_engine, tmp_path) as stack:
        requests = [
            await stack.request({"Dockerfile": dockerfile(f"RUN echo {n} > /n"), "n.txt": str(n)})
            for n in range(3)
        ]
        before = sum(stack.walrus.standin.stats.requests.values())
        stack.walrus.standin.set_faults(
            WalrusFaults(rate_429=0.1, rate_503=0.2, rate_504=0.1, rate_store_lost=0.1)
        )
        stack.chain.standin.set_faults(unavailable_rate=0.3, unavailable_after_execute=True, seed=5)
        async with stack.runner():
            finals = [await stack.wait_final(r, timeout_s=120) for r in requests]
        stack.chain.standin.set_faults(unavailable_rate=0.0)
        statuses = [(await stack.on_chain(r)).status for r in requests]
    assert [b.status for b in finals] == [BuildStatus.SUCCEEDED] * 3
    assert statuses == [RequestStatus.SUCCEEDED] * 3
    walrus_requests = sum(stack.walrus.standin.stats.requests.values()) - before
    walrus_faults = sum(stack.walrus.standin.stats.faults.values())
    assert walrus_faults >= 3 and walrus_faults / walrus_requests > 0.1, stack.walrus.standin.stats
    node_faults = [r for r in caplog.records if "(injected)" in r.getMessage()]
    assert len(node_faults) >= 3
    for request_id in requests:
        assert len(stack.events(request_id, EventKind.RESULT)) == 1


def _wait_exit(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill(process)
        raise


async def test_runner_killed_mid_build_another_finishes_exactly_once(
    postgres_url: str, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    engine = create_engine_for(postgres_url)
    upgrade(engine)
    try:
        async with running_stack(engine, tmp_path, lease_s=5) as stack:
            await _kill_and_recover(stack, tmp_path)
    finally:
        engine.dispose()


async def _kill_and_recover(stack: Stack, tmp_path: Path) -> None:
    first_settings = stack.settings_for("doomed")
    await stack.prepare_runner(first_settings)
    second_settings = stack.settings_for("heir")
    await stack.prepare_runner(second_settings)

    doomed = stack.spawn_runner(first_settings, tmp_path / "doomed.log")
    try:
        request_id = await stack.request(
            {"Dockerfile": dockerfile("RUN echo started && sleep 4 && echo finished")}
        )
        building = await stack.wait_for(
            request_id, lambda b: b.step is BuildStep.BUILDING, timeout_s=60
        )
        assert building.lease_owner == "runner-doomed" and building.attempts == 1
        await anyio.sleep(0.5)
        kill(doomed)  # SIGKILL: no clean-up, no lease release
        assert _wait_exit(doomed, 10) == -signal.SIGKILL
    finally:
        kill(doomed)

    killed_at = time.monotonic()
    heir = stack.spawn_runner(second_settings, tmp_path / "heir.log")
    try:
        build = await stack.wait_final(request_id, timeout_s=90)
        recovered_after = time.monotonic() - killed_at
        request = await stack.on_chain(request_id)
        # A graceful stop of an idle runner: SIGTERM, exit 0, its heartbeat row removed.
        heir.send_signal(signal.SIGTERM)
        assert _wait_exit(heir, 30) == 0, (tmp_path / "heir.log").read_text()[-3000:]
    finally:
        kill(heir)

    assert build.status is BuildStatus.SUCCEEDED and build.attempts == 2
    assert request.status == RequestStatus.SUCCEEDED and request.result is not None
    assert recovered_after < 60
    # Exactly one result: one `complete` on chain, one result event, posted by the heir's enclave.
    assert len(stack.events(request_id, EventKind.RESULT)) == 1
    heir_record = json.loads(
        second_settings.enclave_key_file.with_name(
            second_settings.enclave_key_file.name + ".enclave.json"
        ).read_text()
    )
    assert request.result.enclave_id == heir_record["enclave_id"]
    runners = [
        e.payload["runner"]
        for e in stack.events(request_id, EventKind.STEP)
        if e.payload.get("step") == "building" and e.payload.get("phase") == "started"
    ]
    assert runners == ["runner-doomed", "runner-heir"]
    with session_scope(stack.engine) as session:
        alive = {r.runner_id for r in heartbeats.list_runners(session)}
    assert "runner-heir" not in alive
    log_lines = [json.loads(line) for line in (tmp_path / "heir.log").read_text().splitlines()]
    assert any(line.get("build") == request_id for line in log_lines)


async def test_two_runners_share_the_work_on_postgres(
    postgres_url: str, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    engine = create_engine_for(postgres_url)
    upgrade(engine)
    try:
        async with (
            running_stack(engine, tmp_path) as stack,
            stack.runner("one") as one,
            stack.runner("two") as two,
        ):
            requests = [
                await stack.request({"Dockerfile": dockerfile(f"RUN sleep 1 && echo {n} > /n")})
                for n in range(4)
            ]
            finals = [await stack.wait_final(r) for r in requests]
        results = [len(stack.events(r, EventKind.RESULT)) for r in requests]
    finally:
        engine.dispose()
    assert [(b.status, b.attempts) for b in finals] == [(BuildStatus.SUCCEEDED, 1)] * 4
    assert results == [1] * 4
    mine, theirs = {r for r, _ in one.finished}, {r for r, _ in two.finished}
    assert mine | theirs == set(requests) and not mine & theirs
    assert mine and theirs  # both took a share
