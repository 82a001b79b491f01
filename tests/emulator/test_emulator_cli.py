"""`daas emulator ...` as a user runs it: a subprocess that prints its URL first, then serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx

from daas.chain.client import SuiClient


def test_walrus_standin_from_the_cli() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daas.cli", "emulator", "walrus", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        url = first["walrus_url"]
        assert url.startswith("http://127.0.0.1:")
        stored = httpx.put(f"{url}/v1/blobs", params={"epochs": 2}, content=b"hello", timeout=10)
        assert stored.status_code == 200
        blob_id = stored.json()["newlyCreated"]["blobObject"]["blobId"]
        read = httpx.get(f"{url}/v1/blobs/{blob_id}", timeout=10)
        assert read.content == b"hello"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_sui_standin_from_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    state = tmp_path / "chain.db"
    address = "0x" + "ab" * 32
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daas.cli",
            "emulator",
            "sui",
            "--port",
            "0",
            "--state-file",
            str(state),
            "--fund",
            f"{address}=5000000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["grpc_url"].startswith("http://127.0.0.1:")
        for key in ("chain_id", "package_id", "registry_id", "enclave_config_id", "admin_address"):
            assert first[key], key

        async def check() -> None:
            async with SuiClient(first["grpc_url"], expected_chain_id=first["chain_id"]) as client:
                assert await client.get_balance(address) == 5_000_000_000
                registry = await client.get_object(first["registry_id"])
                assert registry.object_id == first["registry_id"]

        anyio.run(check)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert state.exists()
