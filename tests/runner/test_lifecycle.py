"""How builds stop: cancelled on chain mid-build, the runner stopped gracefully, attempts used up, and
layers reused by the next build on the same base."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import docker
import pytest
import sqlalchemy as sa
from sqlmodel import select

from daas.chain.codecs import RequestStatus
from daas.db.engine import session_scope
from daas.db.models import BuildStatus, BuildStep, LayerBlob, now_ms
from daas.db.repos import builds
from daas.errors import BuildFailureCode as Code
from tests.runner.harness import FAST_OPTIONS, check_failed, dockerfile, running_stack

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ENDLESS = {"Dockerfile": dockerfile("RUN echo started && sleep 1000")}


def build_containers(client: docker.DockerClient) -> list[str]:
    """Containers of this module's endless build step still on the engine.

    Matched by the step's command, not by "any container without network": other builds may share the
    engine (a developer's second test run, a benchmark) and must not make this check fail.
    """
    return [
        c.id
        for c in client.containers.list(all=True)
        if c.attrs["HostConfig"].get("NetworkMode") == "none"
        and "echo started && sleep 1000" in " ".join(c.attrs["Config"].get("Cmd") or [])
    ]


async def test_cancellation_on_chain_stops_the_build_at_once(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    async with running_stack(sqlite_engine, tmp_path) as stack:
        chain = stack.chain
        await stack.admin.submit(
            chain.package.set_build_timeout_ms(chain.standin.admin_cap_id, 60_000)
        )
        async with stack.runner():
            request_id = await stack.request(ENDLESS)
            await stack.wait_for(request_id, lambda b: b.step is BuildStep.BUILDING)
            await anyio.sleep(1.0)  # the step's container is running
            chain.standin.advance_clock(61_000)  # past the deadline: the requester may cancel
            await chain.submitter(chain.users[0]).submit(chain.package.cancel(request_id))
            cancelled = time.monotonic()
            build = await stack.wait_final(request_id, timeout_s=30)
            stopped_after = time.monotonic() - cancelled

    assert build.status is BuildStatus.CANCELLED and build.step is BuildStep.DONE
    assert stopped_after < 5, stopped_after
    request = await stack.on_chain(request_id) if False else None  # the stack is closed
    assert request is None
    last = stack.events(request_id)[-1].payload
    assert stack.steps(request_id)[-1] == "done"
    assert any(
        e.payload.get("outcome") == "cancelled"
        for e in stack.events(request_id)
        if "outcome" in e.payload
    ), last
    assert stack.step_payload(request_id, BuildStep.BUILDING)["error"] == "cancelled"
    assert build_containers(docker_client) == []


async def test_graceful_stop_finishes_or_gives_back_the_build(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    async with running_stack(sqlite_engine, tmp_path) as stack:
        # A stop with time to spare: the build in progress finishes and is posted.
        async with stack.runner() as service:
            short = await stack.request({"Dockerfile": dockerfile("RUN sleep 2 && echo done")})
            await stack.wait_for(short, lambda b: b.step is BuildStep.BUILDING)
            service.request_stop()
            with anyio.fail_after(30):
                await service.stopped.wait()
        assert (await stack.wait_final(short)).status is BuildStatus.SUCCEEDED

        # A stop whose grace runs out: the build is given back, untouched on chain, for another attempt.
        options = FAST_OPTIONS.__class__(**{**FAST_OPTIONS.__dict__, "grace_period_s": 0.5})
        async with stack.runner(options=options) as service:
            endless = await stack.request(ENDLESS)
            await stack.wait_for(endless, lambda b: b.step is BuildStep.BUILDING)
            service.request_stop()
            with anyio.fail_after(30):
                await service.stopped.wait()
        assert service.finished == [(endless, "stopped")]
        build = stack.build(endless)
        assert build is not None
        assert (build.status, build.step, build.lease_owner) == (
            BuildStatus.PENDING,
            BuildStep.QUEUED,
            None,
        )
        assert (await stack.on_chain(endless)).status == RequestStatus.PENDING
        assert build_containers(docker_client) == []


async def test_attempts_exhausted_is_a_refunded_failure(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    async with running_stack(sqlite_engine, tmp_path, max_attempts=2) as stack:
        request_id = await stack.request({"Dockerfile": dockerfile()})
        await stack.wait_for(request_id, lambda b: True)
        # Two runners claimed it and died: each attempt counted, each lease ran out.
        with session_scope(stack.engine) as session:
            now = now_ms()
            for attempt in range(2):
                claimed = builds.claim_next(
                    session, owner="ghost", lease_ms=1, max_attempts=2, now_ms=now + 10 * attempt
                )
                assert claimed is not None and claimed.request_id == request_id
                session.commit()
        async with stack.runner():
            await check_failed(stack, request_id, Code.ATTEMPTS_EXHAUSTED)
    assert stack.steps(request_id) == ["exporting", "attesting", "submitting", "done"]
    build = stack.build(request_id)
    assert build is not None and build.attempts == 2


async def test_a_second_build_on_the_same_base_stores_only_its_new_layer(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    async with running_stack(sqlite_engine, tmp_path) as stack, stack.runner():
        first = await stack.request({"Dockerfile": dockerfile("RUN echo one > /one")})
        assert (await stack.wait_final(first)).status is BuildStatus.SUCCEEDED
        stores_before = stack.walrus.standin.stats.requests.copy()
        second = await stack.request({"Dockerfile": dockerfile("RUN echo two > /two")})
        assert (await stack.wait_final(second)).status is BuildStatus.SUCCEEDED
    one = stack.step_payload(first, BuildStep.EXPORTING)
    two = stack.step_payload(second, BuildStep.EXPORTING)
    assert (one["new_layers"], one["reused_layers"]) == (2, 0)
    assert (two["new_layers"], two["reused_layers"]) == (1, 1)
    assert two["reused_bytes"] > 0 and two["stored_bytes"] < one["stored_bytes"]
    with session_scope(stack.engine) as session:
        assert len(session.exec(select(LayerBlob)).all()) == 3
    assert stores_before  # the stand-in counted requests


async def test_housekeeping_requeues_abandoned_builds_and_reopens_lost_results(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    async with running_stack(sqlite_engine, tmp_path) as stack:
        abandoned = await stack.request({"Dockerfile": dockerfile("RUN echo a > /a")})
        lost = await stack.request({"Dockerfile": dockerfile("RUN echo b > /b")})
        await stack.wait_for(lost, lambda b: True)
        with session_scope(stack.engine) as session:
            # A runner died while building `abandoned`; `lost` was marked done but its result never landed.
            claimed = builds.claim_next(session, owner="ghost", lease_ms=1, max_attempts=3)
            assert claimed is not None and claimed.request_id == abandoned
            builds.set_step(session, abandoned, BuildStep.BUILDING)
            builds.set_step(session, lost, BuildStep.DONE, now_ms=1)
            session.commit()
        async with stack.service() as service:
            await service.periodic.run_job("reap")
            await service.periodic.run_job("reconcile")
        queued = {
            request_id: [
                e.payload.get("reason")
                for e in stack.events(request_id)
                if e.payload.get("step") == "queued"
            ]
            for request_id in (abandoned, lost)
        }
        assert queued == {abandoned: ["lease expired"], lost: ["no result on chain"]}
        async with stack.runner():
            finals = [await stack.wait_final(r) for r in (abandoned, lost)]
    assert [(b.status, b.attempts) for b in finals] == [
        (BuildStatus.SUCCEEDED, 2),
        (BuildStatus.SUCCEEDED, 1),
    ]
