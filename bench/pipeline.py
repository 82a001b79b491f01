"""The runner's pipeline against plain `docker build` + `docker save`, side by side in one run.

For each case, each round builds contexts of the same shape three ways, in an order that rotates per round:

- **plain**: the build through the SDK without our options, then the image saved (streamed) to a file: the
  issue's literal baseline (`docker build` + `docker save`).
- **plain_no_network**: the same with `network_mode="none"` (`docker build --network none`), the one isolation
  the product may not drop: RUN steps without network. On an engine whose default network is only a loopback
  namespace (`--bridge=none`), the explicit `none` network still costs dockerd ~80-100 ms per RUN step
  (a libnetwork sandbox and endpoint), so this baseline is the one that measures our overhead alone.
- **build_export**: `DockerBuildExecutor.build` (limits, no network, live log lines) then `ImageExporter.export`
  to the Walrus stand-in: deterministic gzip, chunked uploads, config, manifest and index blobs.
- **claim_to_submitted**: the whole runner, from `claim_next` to the result posted on chain and recorded:
  preflight status read, fetching the bundle from Walrus and unpacking it, the build with every log line
  written to the database, the export (layer cache in the database), the Kubernetes manifest and the log
  stored on Walrus, the signature, the `complete` transaction on the Sui stand-in (gRPC), step events. The
  bundle is stored and the request made and indexed before the clock starts.

The Walrus stand-in runs in its own process (10 MiB request cap), the Sui stand-in and the indexer in this
one, the database is SQLite. Layers already on Walrus are reused, as in production: the base layer is stored
once, in a warm-up round that is not counted. Every side of every round gets fresh content (a nonce, new
random bytes), so nothing comes from the engine's build cache and every new layer really is new.

Cases: `small` (one RUN writing a file) and `layer_100mb` (a RUN writing 100 MB of random bytes, which gzip
cannot shrink). The big layer is made by a RUN rather than a COPY because a bundle is one Walrus blob, under
the publisher's 10 MiB cap. Output is JSON on stdout:

    .venv/bin/python bench/pipeline.py [--rounds N] [--big-mb M]

Needs a Docker engine and the `daas-base:latest` image (the test fixture `base_image` creates it).
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

# `python bench/pipeline.py` puts bench/ first on the path, where indexer.py would shadow the package.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
import docker  # noqa: E402

from daas.attestation.attestor import LocalKeyAttestor  # noqa: E402
from daas.attestation.registration import ensure_debug_enclave, record_path_for  # noqa: E402
from daas.build import BuildLimits, BuiltImage, DockerBuildExecutor, LogStream  # noqa: E402
from daas.bundle import pack_directory  # noqa: E402
from daas.chain.codecs import BuildRequested, BuildSpec  # noqa: E402
from daas.config import MIB, load_settings  # noqa: E402
from daas.db.engine import create_engine_for, session_scope  # noqa: E402
from daas.db.migrate import upgrade  # noqa: E402
from daas.db.models import Build, EventKind  # noqa: E402
from daas.db.notify import Wakeup  # noqa: E402
from daas.db.repos import builds, events  # noqa: E402
from daas.image import ImageExporter, MemoryLayerCache  # noqa: E402
from daas.walrus import WalrusClient  # noqa: E402
from emulator.sui.standin import MIST_PER_SUI  # noqa: E402
from emulator.sui.testing import DevChain, dev_chain, dev_signer  # noqa: E402
from indexer.service import Indexer  # noqa: E402
from runner.service import RunnerService, open_runner  # noqa: E402

BASE_IMAGE = "daas-base:latest"
CAP = 10 * MIB
LIMITS = BuildLimits(memory_bytes=1024 * MIB, cpus=2.0, timeout_s=600, nocache=True)
FEE = 10_000_000
STEPS = ("fetching", "building", "exporting", "attesting", "submitting")


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
    """Fresh content for one side of one round of `case` in `root`."""
    nonce = uuid.uuid4().hex
    if case == "small":
        dockerfile = f"FROM {BASE_IMAGE}\nRUN echo {nonce} > /nonce\n"
    else:
        dockerfile = (
            f"FROM {BASE_IMAGE}\n"
            f"RUN head -c {big_mb * MIB} /dev/urandom > /blob.bin && echo {nonce} > /nonce\n"
        )
    (root / "Dockerfile").write_text(dockerfile)


# --- the three sides ------------------------------------------------------------------------------------------


async def build_export(
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
        "image_bytes": image.size,
        "stored_bytes": exported.stored_bytes,
        "reused_bytes": exported.reused_bytes,
        "new_layers": exported.new_layers,
        "log_lines": lines,
    }


def plain(
    client: docker.APIClient, context: Path, scratch: Path, *, no_network: bool = False
) -> dict[str, Any]:
    tag = f"daas-bench-plain-{uuid.uuid4().hex[:12]}:latest"
    extra: dict[str, Any] = {"network_mode": "none"} if no_network else {}
    started = time.perf_counter()
    for _ in client.build(path=str(context), tag=tag, rm=True, nocache=True, decode=True, **extra):
        pass
    built = time.perf_counter()
    with (scratch / "save.tar").open("wb") as out:
        for chunk in client.get_image(tag, chunk_size=MIB):
            out.write(chunk)
    done = time.perf_counter()
    client.remove_image(tag)
    (scratch / "save.tar").unlink()
    return {"total_s": done - started, "build_s": built - started, "save_s": done - built}


class Pipeline:
    """The runner with its chain, indexer and database: requests made up front, then claim → submitted."""

    def __init__(self, chain: DevChain, service: RunnerService, store: WalrusClient) -> None:
        self.chain = chain
        self.service = service
        self.store = store
        self.engine = service.deps.engine
        self._submitter = chain.submitter(chain.users[0])

    async def request(self, context: Path) -> str:
        with pack_directory(context) as packed:
            data = packed.read_bytes()
        stored = await self.store.store(data)
        spec = BuildSpec(stored.blob_id, packed.sha256, "Dockerfile", "linux/amd64")
        result = await self._submitter.submit(self.chain.package.request_build(spec, FEE))
        (event,) = [e for e in result.decoded_events() if isinstance(e, BuildRequested)]
        listener = self.service.deps.changes.listener()  # fired by the indexer after each commit
        with anyio.fail_after(30):
            while await anyio.to_thread.run_sync(self._row, event.request_id) is None:
                await listener.wait(1.0)
        return event.request_id

    def _row(self, request_id: str) -> Build | None:
        with session_scope(self.engine) as session:
            return builds.get(session, request_id)

    async def run(self, context: Path) -> dict[str, Any]:
        request_id = await self.request(context)
        started = time.perf_counter()
        build = await self.service.claim()
        if build is None or build.request_id != request_id:
            raise RuntimeError(f"claimed {build} instead of {request_id}")
        claimed = time.perf_counter()
        outcome = await self.service.pipeline.run(build)
        done = time.perf_counter()
        if outcome.value != "succeeded":
            raise RuntimeError(f"{request_id} ended {outcome.value}")
        steps: dict[str, float] = {}
        exported: dict[str, Any] = {}
        with session_scope(self.engine) as session:
            for event in events.list_after(session, build_id=request_id, limit=10_000):
                payload = event.payload
                if event.kind is EventKind.STEP and payload.get("phase") == "finished":
                    steps[payload["step"]] = payload["duration_ms"] / 1000
                    if payload["step"] == "exporting":
                        exported = payload
        return {
            "total_s": done - started,
            "claim_s": claimed - started,
            "steps_s": steps,
            "new_layers": exported.get("new_layers"),
            "stored_bytes": exported.get("stored_bytes"),
        }


@contextlib.asynccontextmanager
async def pipeline_stack(walrus_url: str, tmp: Path) -> AsyncIterator[Pipeline]:
    """Sui stand-in, indexer (in this process) and a runner, ready to claim."""
    async with (
        dev_chain(users=1, sui_each=1000, checkpoint_interval_s=0.05) as chain,
        WalrusClient(
            aggregator_url=walrus_url, publisher_url=walrus_url, max_request_bytes=CAP
        ) as store,
    ):
        engine = create_engine_for(f"sqlite:///{tmp / 'daas.db'}")
        await anyio.to_thread.run_sync(upgrade, engine)
        chain_settings = {
            "grpc_url": chain.standin.url,
            "chain_id": chain.standin.chain_id,
            "package_id": chain.standin.package_id,
            "registry_id": chain.standin.registry_id,
            "enclave_config_id": chain.standin.enclave_config_id,
        }
        signer = dev_signer("bench-runner")
        chain.standin.fund(signer.address, 1000 * MIST_PER_SUI)
        settings = load_settings(
            data_dir=tmp / "runner",
            database_url=f"sqlite:///{tmp / 'daas.db'}",
            chain=chain_settings,
            walrus={
                "publisher_url": walrus_url,
                "aggregator_url": walrus_url,
                "max_request_bytes": CAP,
            },
            keys={
                "sui_private_key": signer.to_bech32(),
                "enclave_key_file": tmp / "enclave.key",
            },
            runner={"memory_mb": 1024, "cpus": 2.0, "build_timeout_s": 600, "lease_s": 120},
            indexer={"progress_interval_s": 3600.0},
        )
        admin = chain.submitter(chain.admin)
        cap = chain.standin.admin_cap_id
        await admin.submit(chain.package.set_allow_debug(cap, True))
        await ensure_debug_enclave(
            chain.client,
            admin,
            chain.package,
            admin_cap_id=cap,
            attestor=LocalKeyAttestor.load_or_create(settings.enclave_key_file),
            chain_id=chain.standin.chain_id,
            record_path=record_path_for(settings.enclave_key_file),
        )
        changes = Wakeup()
        stop = asyncio.Event()
        indexer = Indexer(settings, engine=engine, source=chain.client, wakeup=changes)
        try:
            async with (
                anyio.create_task_group() as tg,
                open_runner(settings, engine=engine, changes=changes, store=store) as service,
            ):
                tg.start_soon(indexer.run, stop, name="indexer")
                try:
                    yield Pipeline(chain, service, store)
                finally:
                    stop.set()
        finally:
            engine.dispose()


# --- rounds ---------------------------------------------------------------------------------------------------


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
    # Shared by the rounds of a case: the base layer is on Walrus already after the warm-up round.
    cache = MemoryLayerCache()
    runs: dict[str, list[dict[str, Any]]] = {
        "plain": [],
        "plain_no_network": [],
        "build_export": [],
        "pipeline": [],
    }
    with tempfile.TemporaryDirectory(prefix="daas-bench-") as tmp:
        root = Path(tmp)
        contexts = {side: root / side for side in runs}
        for context in contexts.values():
            context.mkdir()
        async with (
            DockerBuildExecutor() as executor,
            WalrusClient(
                aggregator_url=walrus_url, publisher_url=walrus_url, max_request_bytes=CAP
            ) as store,
            pipeline_stack(walrus_url, root) as pipeline,
        ):
            exporter = ImageExporter(store, cache, chunk_bytes=CAP, max_image_bytes=4096 * MIB)
            sides = list(runs)
            for round_no in range(rounds + 1):  # round 0 warms up (engine, page cache, Walrus base)
                order = sides[round_no % len(sides) :] + sides[: round_no % len(sides)]
                for side in order:
                    write_case(contexts[side], case, big_mb)
                    if side.startswith("plain"):
                        result = await anyio.to_thread.run_sync(
                            functools.partial(
                                plain,
                                client,
                                contexts[side],
                                root,
                                no_network=side == "plain_no_network",
                            )
                        )
                    elif side == "build_export":
                        result = await build_export(executor, exporter, contexts[side])
                    else:
                        result = await pipeline.run(contexts[side])
                    if round_no:
                        runs[side].append(result)
    plain_total = [run["total_s"] for run in runs["plain"]]
    build_export_total = [run["total_s"] for run in runs["build_export"]]
    pipeline_total = [run["total_s"] for run in runs["pipeline"]]
    phases = {
        phase: round(
            statistics.median(
                run["export_phases_s"].get(phase, 0.0) for run in runs["build_export"]
            ),
            3,
        )
        for phase in runs["build_export"][0]["export_phases_s"]
    }
    steps = {
        step: round(statistics.median(run["steps_s"].get(step, 0.0) for run in runs["pipeline"]), 3)
        for step in STEPS
    }
    isolated_total = [run["total_s"] for run in runs["plain_no_network"]]
    plain_median = statistics.median(plain_total)
    isolated_median = statistics.median(isolated_total)
    return {
        "plain_s": summary(plain_total),
        "plain_no_network_s": summary(isolated_total),
        "claim_to_submitted_s": summary(pipeline_total),
        # Against the literal baseline (RUN steps with the engine's default network).
        "ratio_claim_to_submitted": round(statistics.median(pipeline_total) / plain_median, 3),
        # Against the same build isolation (no network for RUN steps): our own overhead.
        "ratio_claim_to_submitted_vs_no_network": round(
            statistics.median(pipeline_total) / isolated_median, 3
        ),
        "build_export_s": summary(build_export_total),
        "ratio_build_export": round(statistics.median(build_export_total) / plain_median, 3),
        "ratio_build_export_vs_no_network": round(
            statistics.median(build_export_total) / isolated_median, 3
        ),
        "claim_to_submitted_median_s": {"claim": median_of(runs["pipeline"], "claim_s"), **steps},
        "build_export_median_s": {
            "build": median_of(runs["build_export"], "build_s"),
            "export": median_of(runs["build_export"], "export_s"),
            "export_phases": phases,
        },
        "plain_median_s": {
            "build": median_of(runs["plain"], "build_s"),
            "save": median_of(runs["plain"], "save_s"),
        },
        "plain_no_network_median_s": {
            "build": median_of(runs["plain_no_network"], "build_s"),
            "save": median_of(runs["plain_no_network"], "save_s"),
        },
        "image_bytes": runs["build_export"][-1]["image_bytes"],
        "stored_bytes_per_round": runs["pipeline"][-1]["stored_bytes"],
        "new_layers_per_round": runs["pipeline"][-1]["new_layers"],
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
        "benchmark": (
            "runner claim -> result submitted (and build + export alone) "
            "vs docker build + docker save of a context of the same shape "
            "(plain: default network; plain_no_network: --network none, as our builds)"
        ),
        "rounds": rounds,
        "goal_ratio": 1.3,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "docker": engine.get("Version"),
            "walrus": "stand-in process on 127.0.0.1, 10 MiB request cap",
            "sui": "stand-in in this process (gRPC on 127.0.0.1), checkpoints every 50 ms",
            "database": "SQLite",
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
