"""`daas watch` against the real API app (`api.app.create_app`) over a socket, through a proxy that cuts it."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from daas.db.models import BuildStatus, EventKind
from tests.cli.support import (
    CLOSED_URL,
    CliStack,
    CuttingProxy,
    RunningApi,
    cli_command,
    cli_env,
    log_event,
    pending_event,
    run_cli,
    running_api,
    step_event,
)

pytestmark = pytest.mark.anyio

BUILD = "0x" + "5e" * 32


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with running_api(tmp_path) as running:
        yield running


async def _wait_for_output(proc: asyncio.subprocess.Process, lines: int) -> list[str]:
    """Read `lines` lines of the process's stdout."""
    assert proc.stdout is not None
    got = []
    with anyio.fail_after(30):
        while len(got) < lines:
            line = await proc.stdout.readline()
            assert line, "the watch ended early"
            got.append(line.decode())
    return got


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    with anyio.fail_after(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_watch_resumes_after_a_cut_without_losing_or_repeating(api: RunningApi) -> None:
    import json

    api.insert(BUILD)
    before = [
        pending_event(),
        step_event("fetching", "started"),
        step_event("fetching", "finished"),
    ]
    before += [step_event("building", "started")]
    before += [
        log_event(1 + 5 * i, 5) for i in range(12)
    ]  # 60 lines, several KiB: the cut lands inside
    first_ids = api.add(BUILD, before)
    async with CuttingProxy(api.port, cuts=1, after_bytes=2500) as proxy:
        proc = await asyncio.create_subprocess_exec(
            *cli_command("watch", BUILD, "--api", proxy.url, json_output=True),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        try:
            seen = await _wait_for_output(proc, len(first_ids))
            # Live events after the replay: more log, the end of the steps, then the final status.
            later = api.add(
                BUILD,
                [
                    log_event(61, 5),
                    step_event("building", "finished"),
                    (EventKind.STEP, {"step": "done", "outcome": "succeeded"}),
                ],
            )
            final = api.settle(BUILD, BuildStatus.SUCCEEDED)
            code, out, err = await _finish(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
        assert code == 0, err
        events = [json.loads(line) for line in seen + out.splitlines() if line.strip()]
        ids = [event["id"] for event in events]
        assert ids == [*first_ids, *later, final]  # each exactly once, in order
        lines = [
            line["line"]
            for event in events
            if event["kind"] == "log"
            for line in event["payload"]["lines"]
        ]
        assert lines == list(range(1, 66))
        assert events[-1]["final"] is True and events[-1]["payload"]["status"] == "succeeded"
        # The first connection was cut mid-stream; the second resumed from the last complete event.
        resumed = proxy.last_event_ids()
        assert len(resumed) >= 2 and resumed[0] is None
        assert resumed[1] is not None and int(resumed[1]) < first_ids[-1]
        assert "reconnecting" in err


async def test_watch_human_display_of_a_failed_build(api: RunningApi) -> None:
    api.insert(BUILD)
    api.add(
        BUILD,
        [
            pending_event(),
            step_event("fetching", "started"),
            step_event("fetching", "finished"),
            step_event("building", "started"),
            log_event(1, 3),
            (
                EventKind.STEP,
                {
                    "step": "building",
                    "phase": "finished",
                    "duration_ms": 2500,
                    "ok": False,
                    "error": "step 2 failed",
                },
            ),
        ],
    )
    api.settle(BUILD, BuildStatus.FAILED)
    done = await run_cli("watch", BUILD, "--api", api.url)
    assert done.returncode == 1, done.stderr
    text = done.stderr
    assert done.stdout == ""
    for n in (1, 2, 3):
        assert text.count(f"log line {n}\n") == 1
    assert "✓ fetching (1.2 s)" in text and "✗ building (2.5 s): step 2 failed" in text
    assert f"build {BUILD}: failed" in text


async def test_watch_cancelled_build_exits_1(api: RunningApi) -> None:
    api.insert(BUILD)
    api.add(BUILD, [pending_event()])
    api.settle(BUILD, BuildStatus.CANCELLED)
    done = await run_cli("watch", BUILD, "--api", api.url, json=True)
    assert done.returncode == 1
    assert done.json_lines()[-1]["payload"]["status"] == "cancelled"


async def test_watch_a_finished_build_replays_it(api: RunningApi) -> None:
    api.insert(BUILD)
    api.add(BUILD, [pending_event(), log_event(1, 2)])
    api.settle(BUILD, BuildStatus.SUCCEEDED)
    done = await run_cli("watch", BUILD, "--api", api.url, json=True)
    assert done.returncode == 0, done.stderr
    kinds = [e["kind"] for e in done.json_lines()]
    assert kinds[:2] == ["status", "log"] and len(kinds) == 3 and kinds[2] in ("status", "result")


# --- error paths ---------------------------------------------------------------------------------------


async def test_unknown_request_exits_4(api: RunningApi, stack: CliStack) -> None:
    # Neither the API nor the chain knows the id: no waiting for an indexer.
    done = await run_cli("watch", "0x" + "77" * 32, "--api", api.url, config=stack.user_config)
    assert done.returncode == 4, done.stderr
    assert "no build request" in done.stderr


async def test_unreachable_api_exits_3() -> None:
    done = await run_cli("watch", BUILD, "--api", CLOSED_URL, "--reconnect-timeout", "0.5")
    assert done.returncode == 3
    assert f"cannot reach the DaaS API at {CLOSED_URL}" in done.stderr


async def test_bad_request_id_exits_2() -> None:
    done = await run_cli("watch", "0xnothex", "--api", CLOSED_URL)
    assert done.returncode == 2 and "is not a request id" in done.stderr


async def test_watch_shows_the_runners_last_lines_after_the_result(api: RunningApi) -> None:
    """The result can be on chain (the final event) before the runner writes its closing lines: watch
    prints them too, and ends when the server ends the stream."""
    import json

    from daas.db.engine import session_scope
    from daas.db.repos import builds

    api.insert(BUILD)
    with session_scope(api.engine) as session:
        assert builds.claim_next(session, owner="runner-1", lease_ms=60_000, max_attempts=3)
        session.commit()
    first = api.add(BUILD, [pending_event(), log_event(1, 3)])
    final = api.settle(BUILD, BuildStatus.SUCCEEDED)
    proc = await asyncio.create_subprocess_exec(
        *cli_command("watch", BUILD, "--api", api.url, json_output=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        seen = await _wait_for_output(proc, len(first) + 1)
        await anyio.sleep(0.3)
        assert proc.returncode is None, "watch ended before the runner released the build"
        trailing = api.add(
            BUILD, [log_event(4, 1), (EventKind.STEP, {"step": "done", "outcome": "succeeded"})]
        )
        with session_scope(api.engine) as session:
            assert builds.release_lease(session, BUILD, owner="runner-1")
            session.commit()
        api.wakeup.fire()
        code, out, err = await _finish(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert code == 0, err
    events = [json.loads(line) for line in seen + out.splitlines() if line.strip()]
    assert [event["id"] for event in events] == [*first, final, *trailing]
