"""`daas up`: indexer, runner and API in one process against a configured chain (here: the stand-ins)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import anyio
import httpx
import pytest

from tests.cli.support import PROJECT, CliStack, register_debug_enclave, run_cli, submit_hello

pytestmark = pytest.mark.anyio


async def test_up_refuses_an_unregistered_enclave_key(stack: CliStack) -> None:
    done = await run_cli("up", "--api-port", "0", config=stack.admin_config)
    assert done.returncode == 2, done.stderr
    assert "register it first" in done.stderr and "Traceback" not in done.stderr


async def test_up_serves_and_builds_then_stops_cleanly(stack: CliStack, base_image: str) -> None:
    await register_debug_enclave(stack)
    config = stack.config("services", stack.chain.admin, api={"port": 0})
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    # Popen returns at once; every wait on the process goes through a worker thread.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "daas.cli", "--config", str(config), "--json", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT,
    )
    try:
        assert proc.stdout is not None
        line = await anyio.to_thread.run_sync(proc.stdout.readline)
        assert line, "daas up exited before it was ready"
        url = json.loads(line)["api_url"]
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            request_id = await submit_hello(stack)
            with anyio.fail_after(120):
                while True:
                    reply = await http.get(f"/v1/builds/{request_id}")
                    if reply.status_code == 200 and reply.json()["status"] == "succeeded":
                        break
                    await anyio.sleep(0.2)
            health = await http.get("/healthz")
            assert health.status_code == 200, health.text
    finally:
        proc.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(proc.wait, 30)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    assert proc.returncode == 0
