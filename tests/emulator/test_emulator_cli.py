"""`daas emulator ...` as a user runs it: a subprocess that prints its URL first, then serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx


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
