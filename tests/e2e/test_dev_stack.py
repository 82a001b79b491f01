"""The README's main job, end to end: `daas dev` in a subprocess, then the CLI as a user runs it.

submit `examples/hello` → follow to SUCCEEDED → `daas verify` (every check passes) → `docker pull` through our
API's registry and run the image → tamper with blobs in the Walrus stand-in and see `daas verify` name the
failing check. (Tampering with on-chain fields needs the stand-in in-process: `tests/cli/test_verify.py`.)
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.fixtures.devstack import ROOT, DevStack, clean_env, dev_command, running_dev_stack

pytestmark = pytest.mark.slow

EXPECTED = "hello from daas"


@pytest.fixture
def dev_stack(tmp_path: Path, base_image: str) -> Iterator[DevStack]:
    with running_dev_stack(tmp_path / "dev") as stack:
        yield stack


def test_submit_watch_verify_pull_and_tamper(
    dev_stack: DevStack, docker_client: docker.DockerClient
) -> None:
    submitted = dev_stack.cli("--json", "submit", "examples/hello")
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    events = [json.loads(line) for line in submitted.stdout.splitlines() if line.startswith("{")]
    request_id = next(e["request_id"] for e in events if e.get("kind") == "submitted")

    watched = dev_stack.cli("watch", request_id)
    assert watched.returncode == 0, watched.stderr[-2000:]

    verified = dev_stack.cli("--json", "verify", request_id)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["ok"], report
    assert {"result.signature", "image.manifest", "log", "source"} <= {
        c["name"] for c in report["checks"]
    }

    build = json.loads(
        dev_stack.cli("--json", "config", "show").stdout  # the API URL the dev stack wrote
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
    blobs = dev_stack.data_dir / "walrus" / "blobs"
    log_blob = next(c for c in report["checks"] if c["name"] == "log")["detail"].split()[1]
    log_path = blobs / f"{log_blob.rstrip(':')}.blob"
    original = log_path.read_bytes()
    log_path.write_bytes(original.replace(b"Step", b"Stop", 1))
    tampered = dev_stack.cli("--json", "verify", request_id)
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
    tampered = dev_stack.cli("--json", "verify", request_id)
    failed = [c["name"] for c in json.loads(tampered.stdout)["checks"] if not c["ok"]]
    assert tampered.returncode != 0 and any(name.startswith("image.layer") for name in failed)


def test_dev_without_a_docker_engine_says_how_to_start_one(tmp_path: Path) -> None:
    env = clean_env()
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-docker.sock'}"
    done = subprocess.run(
        dev_command(tmp_path / "dev"),
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no Docker engine answers" in done.stderr and "dockerd" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_on_a_taken_port_names_the_option(tmp_path: Path, base_image: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            dev_command(tmp_path / "dev", api_port=port),
            capture_output=True, text=True, timeout=120, check=False, env=clean_env(), cwd=ROOT,
        )  # fmt: skip
    assert done.returncode == 1
    assert "--api-port" in done.stderr and "Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
