"""`daas emulator ...` as a user runs it: a subprocess that prints its URL first, then serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx

from daas.chain.client import SuiClient


@contextmanager
def emulator(*args: str) -> Iterator[dict[str, object]]:
    """Run `daas emulator ARGS` and yield the JSON line it prints first; SIGTERM it afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daas.cli", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()


def test_walrus_standin_from_the_cli() -> None:
    with emulator("walrus", "--port", "0") as first:
        url = str(first["walrus_url"])
        assert url.startswith("http://127.0.0.1:")
        stored = httpx.put(f"{url}/v1/blobs", params={"epochs": 2}, content=b"hello", timeout=10)
        assert stored.status_code == 200
        blob_id = stored.json()["newlyCreated"]["blobObject"]["blobId"]
        read = httpx.get(f"{url}/v1/blobs/{blob_id}", timeout=10)
        assert read.content == b"hello"


def test_sui_standin_from_the_cli(tmp_path: Path) -> None:
    state = tmp_path / "chain.db"
    address = "0x" + "ab" * 32
    args = ["sui", "--port", "0", "--state-file", str(state), "--fund", f"{address}=5000000000"]
    with emulator(*args) as first:
        assert str(first["grpc_url"]).startswith("http://127.0.0.1:")
        for key in ("chain_id", "package_id", "registry_id", "enclave_config_id", "admin_address"):
            assert first[key], key

        async def check() -> None:
            url, chain_id = str(first["grpc_url"]), str(first["chain_id"])
            async with SuiClient(url, expected_chain_id=chain_id) as client:
                assert await client.get_balance(address) == 5_000_000_000
                registry = await client.get_object(str(first["registry_id"]))
                assert registry.object_id == first["registry_id"]

        anyio.run(check)
    assert state.exists()
