"""`daas api`: refuses an unmigrated database; serves, answers, and stops cleanly on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _daas(*args: str, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "daas.cli", *args]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    return {**env, "DAAS_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}


def test_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    result = subprocess.run(
        _daas("api", "--port", "0", data_dir=tmp_path),
        env=_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "daas db upgrade" in result.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_and_stops_cleanly_on_a_signal(tmp_path: Path, stop: signal.Signals) -> None:
    env = _env(tmp_path)
    subprocess.run(
        _daas("db", "upgrade", data_dir=tmp_path),
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    process = subprocess.Popen(
        _daas("api", "--port", "0", data_dir=tmp_path),
        env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if match := re.search(r"serving on (http://\S+)", line):
                url = match.group(1)
        assert url is not None, "daas api did not report its address"
        for _ in range(100):
            try:
                response = httpx.get(f"{url}/v1/config", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.json()["network"] == "localnet"
        assert (
            httpx.get(f"{url}/healthz", timeout=5).status_code == 503
        )  # no indexer, no runner yet
        process.send_signal(stop)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
