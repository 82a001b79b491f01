"""The README's main job, end to end: `daas dev` in a subprocess, then the CLI as a user runs it.

submit `examples/hello` → follow to SUCCEEDED → `daas verify` (every check passes) → `docker pull` through our
API's registry and run the image → tamper with blobs in the Walrus stand-in and see `daas verify` name the
failing check. (Tampering with on-chain fields needs the stand-in in-process: `tests/cli/test_verify.py`.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = "hello from daas"


def cli(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    return subprocess.run(
        [sys.executable, "-m", "daas.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=ROOT,
    )


@pytest.fixture
def dev_stack(tmp_path: Path, base_image: str) -> Iterator[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    data = tmp_path / "dev"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "daas.cli", "--json", "dev", "--data-dir", str(data),
            "--api-port", "0", "--sui-port", "0", "--walrus-port", "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            pytest.fail(f"daas dev exited early: {proc.stderr.read()[-3000:]}")
        ready = json.loads(line)
        assert ready["ready"] is True
        ready["data_dir"] = data
        yield ready
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    assert proc.returncode == 0, f"daas dev did not stop cleanly (exit {proc.returncode})"


def test_submit_watch_verify_pull_and_tamper(
    dev_stack: dict[str, Any], docker_client: docker.DockerClient
) -> None:
    config = Path(dev_stack["config_file"])
    submitted = cli(config, "--json", "submit", "examples/hello")
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    events = [json.loads(line) for line in submitted.stdout.splitlines() if line.startswith("{")]
    request_id = next(e["request_id"] for e in events if e.get("kind") == "submitted")

    watched = cli(config, "watch", request_id)
    assert watched.returncode == 0, watched.stderr[-2000:]

    verified = cli(config, "--json", "verify", request_id)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["ok"], report
    assert {"result.signature", "image.manifest", "log", "source"} <= {
        c["name"] for c in report["checks"]
    }

    build = json.loads(
        cli(config, "--json", "config", "show").stdout  # the API URL the dev stack wrote
    )["api"]["public_url"]
    registry = build.removeprefix("http://")
    digest = next(c for c in report["checks"] if c["name"] == "image.manifest")["detail"].split()[0]
    reference = f"{registry}/daas/{request_id}@{digest}"
    image = docker_client.images.pull(reference)
    try:
        out = docker_client.containers.run(image.id, ["once"], remove=True, network_mode="none")
        assert EXPECTED in out.decode()
    finally:
        docker_client.images.remove(image.id, force=True)

    # Tamper with what Walrus holds: the log blob, then a layer of the image.
    blobs = Path(dev_stack["data_dir"]) / "walrus" / "blobs"
    log_blob = next(c for c in report["checks"] if c["name"] == "log")["detail"].split()[1]
    log_path = blobs / f"{log_blob.rstrip(':')}.blob"
    original = log_path.read_bytes()
    log_path.write_bytes(original.replace(b"Step", b"Stop", 1))
    tampered = cli(config, "--json", "verify", request_id)
    failed = [c["name"] for c in json.loads(tampered.stdout)["checks"] if not c["ok"]]
    assert tampered.returncode != 0 and failed == ["log"], failed
    log_path.write_bytes(original)

    layers = sorted(
        (p for p in blobs.glob("*.blob") if p.stat().st_size > 100_000), key=lambda p: p.name
    )
    assert layers, "the base layer should be the one large blob"
    data = bytearray(layers[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    layers[0].write_bytes(bytes(data))
    tampered = cli(config, "--json", "verify", request_id)
    failed = [c["name"] for c in json.loads(tampered.stdout)["checks"] if not c["ok"]]
    assert tampered.returncode != 0 and any(name.startswith("image.layer") for name in failed)


def test_dev_without_a_docker_engine_says_how_to_start_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-docker.sock'}"
    done = subprocess.run(
        [
            sys.executable, "-m", "daas.cli", "dev", "--data-dir", str(tmp_path / "dev"),
            "--api-port", "0", "--sui-port", "0", "--walrus-port", "0",
        ],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no Docker engine answers" in done.stderr and "dockerd" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_on_a_taken_port_names_the_option(tmp_path: Path, base_image: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [
                sys.executable, "-m", "daas.cli", "dev", "--data-dir", str(tmp_path / "dev"),
                "--api-port", port, "--sui-port", "0", "--walrus-port", "0",
            ],
            capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT,
        )  # fmt: skip
    assert done.returncode == 1
    assert "--api-port" in done.stderr and "Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
