"""Build + export against plain `docker build` + `docker save`, side by side in one run.

For each case, each round builds the same context twice, alternating which goes first:

- **ours**: `DockerBuildExecutor.build` (limits, no network, live log lines) then `ImageExporter.export` to the
  Walrus stand-in (a separate process on 127.0.0.1, 10 MiB request cap): deterministic gzip, chunked uploads,
  config, manifest and index blobs. Layers already on Walrus are reused, as in production: the base layer is
  stored once, in a warm-up round that is not counted.
- **plain**: the same build through the SDK without our options, then the image saved (streamed) to a file.
  Also reported: plain with `network_mode="none"` only, which isolates what turning the network off costs.

Every round writes fresh content (a nonce, and new random bytes for the big layer), so neither side finds
anything in the engine's build cache and every new layer really is new. Cases: `small` (one RUN writing a file)
and `layer_100mb` (COPY of 100 MB of random bytes, which gzip cannot shrink). Output is JSON on stdout:

    .venv/bin/python bench/pipeline.py [--rounds N] [--big-mb M]

Needs a Docker engine and the `daas-test-base:latest` image (the test fixture `base_image` creates it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import docker

from daas.build import BuildLimits, BuiltImage, DockerBuildExecutor, LogStream
from daas.config import MIB
from daas.image import ImageExporter, MemoryLayerCache
from daas.walrus import WalrusClient

BASE_IMAGE = "daas-test-base:latest"
CAP = 10 * MIB
LIMITS = BuildLimits(memory_bytes=1024 * MIB, cpus=2.0, timeout_s=600, nocache=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def walrus_process() -> Iterator[str]:
    """The Walrus stand-in in its own process (as a real publisher would be), its URL."""
    port = free_port()
    code = (
        "from emulator.walrus import run; "
        f"run('127.0.0.1', {port}, max_body_bytes={CAP}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/status", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the Walrus stand-in did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_case(root: Path, case: str, big_mb: int) -> None:
    """Fresh content for one round of `case` in `root` (the same directory for both sides)."""
    nonce = uuid.uuid4().hex
    if case == "small":
        dockerfile = f"FROM {BASE_IMAGE}\nRUN echo {nonce} > /nonce\n"
    else:
        with (root / "blob.bin").open("wb") as file:
            for _ in range(big_mb):
                file.write(os.urandom(MIB))
        dockerfile = f"FROM {BASE_IMAGE}\nCOPY blob.bin /blob.bin\nRUN echo {nonce} > /nonce\n"
    (root / "Dockerfile").write_text(dockerfile)


async def ours(
    executor: DockerBuildExecutor, exporter: ImageExporter, context: Path
) -> dict[str, Any]:
    lines = 0

    async def on_log_line(stream: LogStream, text: str) -> None:
        nonlocal lines
        lines += 1

    started = time.perf_counter()
    image: BuiltImage = await executor.build(
        context,
        dockerfile="Dockerfile",
        platform=executor.native_platform,
        build_args={},
        target=None,
        limits=LIMITS,
        on_log_line=on_log_line,
    )
    built = time.perf_counter()
    exported = await exporter.export(executor, image)
    done = time.perf_counter()
    await executor.remove(image)
    return {
        "total_s": done - started,
        "build_s": built - started,
        "export_s": done - built,
        "export_phases_s": exported.timings,
        "remove_s": time.perf_counter() - done,
        "image_bytes": image.size,
        "stored_bytes": exported.stored_bytes,
        "reused_bytes": exported.reused_bytes,
        "new_layers": exported.new_layers,
        "log_lines": lines,
    }


def plain(
    client: docker.APIClient, context: Path, scratch: Path, *, isolated: bool = False
) -> dict[str, Any]:
    tag = f"daas-bench-plain-{uuid.uuid4().hex[:12]}:latest"
    # `isolated`: with the RUN steps' network off, as ours, to show what that alone costs.
    options: dict[str, Any] = {"network_mode": "none"} if isolated else {}
    started = time.perf_counter()
    for _ in client.build(
        path=str(context), tag=tag, rm=True, nocache=True, decode=True, **options
    ):
        pass
    built = time.perf_counter()
    with (scratch / "save.tar").open("wb") as out:
        for chunk in client.get_image(tag, chunk_size=MIB):
            out.write(chunk)
    done = time.perf_counter()
    client.remove_image(tag)
    (scratch / "save.tar").unlink()
    return {"total_s": done - started, "build_s": built - started, "save_s": done - built}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 3)


async def bench_case(
    case: str, rounds: int, big_mb: int, walrus_url: str, client: docker.APIClient
) -> dict[str, Any]:
    cache = (
        MemoryLayerCache()
    )  # shared by the rounds of a case: the base layer is on Walrus already
    async with (
        DockerBuildExecutor() as executor,
        WalrusClient(
            aggregator_url=walrus_url, publisher_url=walrus_url, max_request_bytes=CAP
        ) as store,
    ):
        exporter = ImageExporter(store, cache, chunk_bytes=CAP, max_image_bytes=4096 * MIB)
        with tempfile.TemporaryDirectory(prefix="daas-bench-") as tmp:
            context = Path(tmp) / "context"
            context.mkdir()
            scratch = Path(tmp)
            ours_runs: list[dict[str, Any]] = []
            plain_runs: list[dict[str, Any]] = []
            isolated_runs: list[dict[str, Any]] = []
            for round_no in range(rounds + 1):  # round 0 warms up (engine, page cache, Walrus base)
                write_case(context, case, big_mb)
                if round_no % 2:
                    mine = await ours(executor, exporter, context)
                    theirs = await anyio.to_thread.run_sync(plain, client, context, scratch)
                else:
                    theirs = await anyio.to_thread.run_sync(plain, client, context, scratch)
                    mine = await ours(executor, exporter, context)
                isolated = await anyio.to_thread.run_sync(
                    functools.partial(plain, client, context, scratch, isolated=True)
                )
                if round_no:
                    ours_runs.append(mine)
                    plain_runs.append(theirs)
                    isolated_runs.append(isolated)
    ours_total = [run["total_s"] for run in ours_runs]
    plain_total = [run["total_s"] for run in plain_runs]
    phases = {
        phase: round(
            statistics.median(run["export_phases_s"].get(phase, 0.0) for run in ours_runs), 3
        )
        for phase in ours_runs[0]["export_phases_s"]
    }
    return {
        "ours_s": summary(ours_total),
        "plain_s": summary(plain_total),
        "ratio": round(statistics.median(ours_total) / statistics.median(plain_total), 3),
        "ours_median_s": {
            "build": median_of(ours_runs, "build_s"),
            "export": median_of(ours_runs, "export_s"),
            "export_phases": phases,
            "remove_not_counted": median_of(ours_runs, "remove_s"),
        },
        "plain_median_s": {
            "build": median_of(plain_runs, "build_s"),
            "save": median_of(plain_runs, "save_s"),
        },
        "plain_without_network_s": summary([run["total_s"] for run in isolated_runs]),
        "ratio_to_plain_without_network": round(
            statistics.median(ours_total) / median_of(isolated_runs, "total_s"), 3
        ),
        "image_bytes": ours_runs[-1]["image_bytes"],
        "stored_bytes_per_round": ours_runs[-1]["stored_bytes"],
        "reused_bytes_per_round": ours_runs[-1]["reused_bytes"],
        "new_layers_per_round": ours_runs[-1]["new_layers"],
    }


async def main_async(rounds: int, big_mb: int) -> dict[str, Any]:
    client = docker.APIClient(version="auto", timeout=600)
    try:
        engine = client.version()
        client.inspect_image(BASE_IMAGE)  # fails early without the test base image
        with walrus_process() as url:
            cases = {
                "small": await bench_case("small", rounds, big_mb, url, client),
                f"layer_{big_mb}mb": await bench_case("big", rounds, big_mb, url, client),
            }
    finally:
        client.close()
    return {
        "benchmark": "build + export to Walrus (ours) vs docker build + docker save (plain)",
        "rounds": rounds,
        "goal_ratio": 1.3,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "docker": engine.get("Version"),
            "walrus": "stand-in process on 127.0.0.1, 10 MiB request cap",
        },
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    result = anyio.run(main_async, args.rounds, args.big_mb)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
