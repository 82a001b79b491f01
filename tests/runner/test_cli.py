"""`daas runner` as users run it: registered, documented, and clear about what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import docker
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from daas.attestation.registration import record_path_for
from daas.db.engine import session_scope
from daas.db.repos import heartbeats
from tests.runner.harness import Stack, kill, running_stack


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "daas.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_runner_help_lists_its_options() -> None:
    result = run_cli("runner", "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for option in ("--grace-period", "--log-format", "--attestor", "--register-debug-enclave"):
        assert option in result.stdout


def test_runner_without_the_package_ids_says_which_settings(tmp_path: Path) -> None:
    result = run_cli(
        "runner",
        env={
            "DAAS_DATA_DIR": str(tmp_path),
            "DAAS_KEYS__SUI_PRIVATE_KEY": "suiprivkey1" + "q" * 59,
        },
    )
    assert result.returncode == 2, result.stderr
    assert "chain.package_id" in result.stderr and "Traceback" not in result.stderr


def test_register_needs_the_admin_cap(tmp_path: Path) -> None:
    result = run_cli("runner", "--register-debug-enclave", env={"DAAS_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "--admin-cap" in result.stderr


@pytest.mark.anyio
@pytest.mark.slow
async def test_register_debug_enclave_then_run_then_stop_on_sigterm(
    sqlite_engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    """The dev setup's path: the admin's key registers the runner's enclave key, then the runner serves."""
    async with running_stack(sqlite_engine, tmp_path) as stack:
        settings = stack.settings_for("admin")
        admin_key = stack.chain.admin.to_bech32()
        settings = settings.model_copy(
            update={
                "keys": settings.keys.model_copy(update={"sui_private_key": SecretStr(admin_key)})
            }
        )
        process = stack.spawn_runner(
            settings, tmp_path / "admin.log", "--register-debug-enclave", "--admin-cap",
            stack.chain.standin.admin_cap_id,
        )  # fmt: skip
        try:
            with anyio.fail_after(60):
                while not _alive(stack, "runner-admin"):
                    assert process.poll() is None, (tmp_path / "admin.log").read_text()
                    await anyio.sleep(0.1)
            record = record_path_for(settings.enclave_key_file)
            assert json.loads(record.read_text())["debug"] is True
            process.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(lambda: process.wait(30)) == 0
        finally:
            kill(process)
        assert not _alive(stack, "runner-admin")  # a clean stop removes the heartbeat row


def _alive(stack: Stack, runner_id: str) -> bool:
    with session_scope(stack.engine) as session:
        return any(r.runner_id == runner_id for r in heartbeats.list_runners(session))
