"""Indexer throughput and latency, with the ceilings it is judged against measured side by side in one run.

A node process streams `SubscribeCheckpointsResponse` frames of `--events` `BuildRequested` events each (the
`sui.rpc.v2` messages of pysui, restricted to the indexer's read mask, pre-serialized so the server is never
the bottleneck, as in `anchors_perf.md` section A). Measured, all on the same frames:

- `parse`: the indexer's frame parser + event decoder (`indexer.wire` + `indexer.decode`) against pysui's own
  path (betterproto2 message parse + canoser decode into a row), offline. Goal: ratio >= 5.
- `receive_ceiling`: the stream over gRPC through the indexer's source and decoder, no database.
- `sqlite` / `postgresql`: the whole indexer (`Indexer.run`) into a fresh database: ingested events/s and
  `ratio` = ingest / receive ceiling (goal >= 0.5); then a live stream at `--live-rate` checkpoints/s for the
  latency from a checkpoint's arrival to its rows' commit (goal p50 <= 50 ms).

Output is JSON on stdout. PostgreSQL: `--postgres-url` or DAAS_TEST_POSTGRES_URL (a superuser URL; a
throwaway database is created and dropped), else a private cluster as the tests start one (fsync off).

    .venv/bin/python bench/indexer.py [--checkpoints 6000] [--events 10] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import canoser  # noqa: E402
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from grpclib.const import Cardinality, Handler  # noqa: E402
from grpclib.encoding.base import CodecBase  # noqa: E402
from grpclib.server import Server, Stream  # noqa: E402
from pysui.sui.sui_bcs import bcs as pysui_bcs  # noqa: E402

from daas.chain.codecs import BuildRequested  # noqa: E402
from daas.config import load_settings  # noqa: E402
from daas.db.engine import create_engine_for  # noqa: E402
from daas.db.migrate import upgrade  # noqa: E402
from indexer import wire  # noqa: E402
from indexer.decode import Decoder, PackageFilter  # noqa: E402
from indexer.grpc_source import GrpcCheckpointSource  # noqa: E402
from indexer.ingestion import INDEXER_READ_MASK  # noqa: E402
from indexer.metrics import IndexerMetrics  # noqa: E402
from indexer.service import Indexer  # noqa: E402

PACKAGE = "0x" + "da" * 32
CHAIN_ID = "BenchChain111111111111111111111111111111111"
T0 = 1_767_000_000_000


# --- frames ----------------------------------------------------------------------------------------------


def checkpoint_bodies(count: int, per_checkpoint: int) -> list[bytes]:
    """Serialized `Checkpoint` messages, each with `per_checkpoint` transactions of one event."""
    event_type = f"{PACKAGE}::builds::BuildRequested"
    bodies = []
    n = 0
    for seq in range(count):
        txs = []
        for _ in range(per_checkpoint):
            event = BuildRequested(
                f"0x{n:064x}",
                "0x" + "ab" * 32,
                f"blob-{n:08d}-" + "x" * 30,
                n.to_bytes(32, "big"),
                "Dockerfile",
                "linux/amd64",
                (n * 7).to_bytes(32, "big"),
                10_000_000,
                T0 + n,
                T0 + n + 3_600_000,
            )
            txs.append(
                v2.ExecutedTransaction(
                    digest=f"{n:044d}",
                    events=v2.TransactionEvents(
                        events=[
                            v2.Event(
                                event_type=event_type,
                                contents=v2.Bcs(name=event_type, value=event.to_bcs()),
                            )
                        ]
                    ),
                )
            )
            n += 1
        message = v2.Checkpoint(
            sequence_number=seq,
            digest=f"{seq:044d}",
            summary=v2.CheckpointSummary(
                timestamp=datetime.datetime.fromtimestamp((T0 + seq * 250) / 1000, datetime.UTC)
            ),
            transactions=txs,
        )
        bodies.append(bytes(message))
    return bodies


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> int:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value
        pos += 1
        shift += 7


def subscribe_frame(seq: int, body: bytes) -> bytes:
    return b"\x08" + _varint(seq) + b"\x12" + _varint(len(body)) + body


def checkpoint_response(body: bytes) -> bytes:
    return b"\x0a" + _varint(len(body)) + body


# --- the node process ------------------------------------------------------------------------------------


class _Raw(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


class ReplayNode:
    """Serves the frames: a subscription starts at checkpoint 0 and then streams the rest, as fast as flow
    control allows or at `rate` checkpoints per second."""

    def __init__(self, bodies: list[bytes], rate: float | None) -> None:
        self.bodies = bodies
        self.rate = rate

    async def service_info(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        tip = len(self.bodies) - 1
        reply = (
            b"\x0a" + _varint(len(CHAIN_ID)) + CHAIN_ID.encode()
            + b"\x20" + _varint(tip) + b"\x30" + _varint(0)
        )  # fmt: skip
        await stream.send_message(reply)

    async def get_checkpoint(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        seq = _read_varint(request, 1) if request and request[0] == 0x08 else 0
        await stream.send_message(checkpoint_response(self.bodies[seq]))

    async def subscribe(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        start = time.monotonic()
        for seq, body in enumerate(self.bodies):
            if self.rate is not None:
                await asyncio.sleep(max(0.0, start + seq / self.rate - time.monotonic()))
            await stream.send_message(subscribe_frame(seq, body))
        await asyncio.sleep(3600)  # a node keeps the stream open at its tip

    def __mapping__(self) -> dict[str, Handler]:
        ledger, unary = "/sui.rpc.v2.LedgerService/", Cardinality.UNARY_UNARY
        return {
            ledger + "GetServiceInfo": Handler(self.service_info, unary, bytes, bytes),
            ledger + "GetCheckpoint": Handler(self.get_checkpoint, unary, bytes, bytes),
            "/sui.rpc.v2.SubscriptionService/SubscribeCheckpoints": Handler(
                self.subscribe, Cardinality.UNARY_STREAM, bytes, bytes
            ),
        }


def _serve(count: int, per_checkpoint: int, rate: float | None, port_out: Any) -> None:
    bodies = checkpoint_bodies(count, per_checkpoint)

    async def serve() -> None:
        server = Server([ReplayNode(bodies, rate)], codec=_Raw())
        await server.start("127.0.0.1", 0)
        port_out.send(server._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.sleep(3600)

    asyncio.run(serve())


@contextlib.contextmanager
def node_process(count: int, per_checkpoint: int, rate: float | None) -> Iterator[str]:
    """The node in its own process (its own core): `rate` None streams as fast as flow control allows."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_serve, args=(count, per_checkpoint, rate, send), daemon=True)
    process.start()
    try:
        if not receive.poll(120):
            raise RuntimeError("the node process did not start")
        yield f"http://127.0.0.1:{receive.recv()}"
    finally:
        process.terminate()
        process.join(10)


# --- measurements ----------------------------------------------------------------------------------------


class CanoserBuildRequested(canoser.Struct):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - canoser reads this class attribute
        ("request_id", pysui_bcs.Address),
        ("requester", pysui_bcs.Address),
        ("source_blob_id", str),
        ("source_sha256", [canoser.Uint8]),
        ("dockerfile_path", str),
        ("platform", str),
        ("spec_digest", [canoser.Uint8]),
        ("fee", canoser.Uint64),
        ("created_at_ms", canoser.Uint64),
        ("deadline_ms", canoser.Uint64),
    ]


def parse_rates(frames: list[bytes], per_checkpoint: int, rounds: int = 3) -> dict[str, Any]:
    """Events/s of the indexer's parse path and of pysui's, alternating rounds on the same frames."""
    decoder = Decoder(PackageFilter([PACKAGE]))
    pysui_frames = frames[: max(1, min(len(frames), 3000 // per_checkpoint))]
    ours, theirs = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in frames:
            checkpoint = wire.parse_subscribe_response(frame)
            assert checkpoint is not None
            decoder.decode(checkpoint)
        ours.append(len(frames) * per_checkpoint / (time.perf_counter() - start))
        start = time.perf_counter()
        for frame in pysui_frames:
            message = v2.SubscribeCheckpointsResponse().parse(frame)
            for tx in message.checkpoint.transactions:
                for event in tx.events.events:
                    e = CanoserBuildRequested.deserialize(event.contents.value)
                    (e.request_id.to_address_str(), e.requester.to_address_str(), e.source_blob_id,
                     bytes(e.source_sha256).hex(), e.dockerfile_path, e.platform,
                     bytes(e.spec_digest).hex(), e.fee, e.created_at_ms, e.deadline_ms)  # fmt: skip
        theirs.append(len(pysui_frames) * per_checkpoint / (time.perf_counter() - start))
    return {
        "indexer_events_per_s": round(statistics.median(ours)),
        "pysui_events_per_s": round(statistics.median(theirs)),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
    }


async def receive_ceiling(url: str, count: int, per_checkpoint: int) -> float:
    """Events/s over gRPC through the indexer's source and decoder, without a database."""
    decoder = Decoder(PackageFilter([PACKAGE]))
    async with GrpcCheckpointSource(url) as source:
        stream = source.subscribe_checkpoints(read_mask=INDEXER_READ_MASK)
        first = await anext(stream)
        start = time.perf_counter()
        decoder.decode(first)
        async for checkpoint in stream:
            decoder.decode(checkpoint)
            if checkpoint.sequence_number == count - 1:
                break
        elapsed = time.perf_counter() - start
        await stream.aclose()  # type: ignore[attr-defined]
    return (count - 1) * per_checkpoint / elapsed


async def ingest(
    url: str, db_url: str, count: int, per_checkpoint: int, batch: int
) -> dict[str, Any]:
    engine = create_engine_for(db_url)
    upgrade(engine)
    settings = load_settings(
        database_url=db_url,
        chain={"package_id": PACKAGE, "chain_id": CHAIN_ID},
        indexer={"batch_checkpoints": batch, "progress_interval_s": 3600},
    )
    metrics = IndexerMetrics()
    try:
        async with GrpcCheckpointSource(url) as source:
            indexer = Indexer(
                settings, engine=engine, source=source, metrics=metrics, last_checkpoint=count - 1
            )
            task = asyncio.ensure_future(indexer.run())
            await indexer.started.wait()
            start = time.perf_counter()
            await task
            elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    p50, p99 = metrics.latency.quantile(0.5), metrics.latency.quantile(0.99)
    return {
        "events_per_s": round(count * per_checkpoint / elapsed),
        "checkpoints_per_s": round(count / elapsed),
        "commits": int(metrics.commits.total()),
        "latency_p50_ms": round((p50 or 0) * 1000, 2),
        "latency_p99_ms": round((p99 or 0) * 1000, 2),
    }


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[tuple[str | None, str]]:
    """(admin URL, where it came from), or (None, why there is none). Reuses the tests' fixtures."""
    from tests.fixtures import postgres as pg

    admin = url or os.environ.get(pg.ENV_URL)
    if admin:
        yield pg.sqlalchemy_url(admin), "given server"
        return
    bin_dir = pg._postgres_bin_dir()
    if bin_dir is None:
        yield None, "no PostgreSQL server or installation"
        return
    with pg._private_cluster(bin_dir) as private:
        yield private, "private cluster started for the run (fsync off)"


def _empty(db_url: str) -> None:
    """Remove what a previous round wrote, so every round inserts into empty tables."""
    engine = create_engine_for(db_url)
    upgrade(engine)
    try:
        with engine.begin() as connection:
            tables = ("build_events", "builds", "enclaves", "rejected_events", "watermarks")
            if engine.dialect.name == "postgresql":  # DELETE would leave bloated indexes behind
                connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            else:
                for table in tables:
                    connection.execute(sa.text(f"DELETE FROM {table}"))
    finally:
        engine.dispose()


async def measure(args: argparse.Namespace, engines: dict[str, str]) -> dict[str, Any]:
    """Ceiling and ingest runs alternate (ceiling, sqlite, postgresql, ceiling, ...), so slow drifts of the
    machine hit both sides of each ratio alike; medians over `--rounds` rounds."""
    count, per = args.checkpoints, args.events
    result: dict[str, Any] = {}
    frames = [subscribe_frame(i, b) for i, b in enumerate(checkpoint_bodies(min(count, 2000), per))]
    result["parse"] = parse_rates(frames, per)
    ceilings: list[float] = []
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
    ratios: dict[str, list[float]] = {name: [] for name in engines}
    with node_process(count, per, None) as url:
        for _ in range(args.rounds):
            ceiling = await receive_ceiling(url, count, per)
            ceilings.append(ceiling)
            for name, db_url in engines.items():
                _empty(db_url)
                run = await ingest(url, db_url, count, per, args.batch)
                runs[name].append(run)
                ratios[name].append(run["events_per_s"] / ceiling)
    result["receive_ceiling"] = {"events_per_s": round(statistics.median(ceilings))}
    live_count = int(args.live_rate * args.live_seconds)
    with node_process(live_count, per, args.live_rate) as url:
        for name, db_url in engines.items():
            _empty(db_url)
            live = await ingest(url, db_url, live_count, per, args.batch)
            rates = [r["events_per_s"] for r in runs[name]]
            result[name] = {
                "events_per_s": round(statistics.median(rates)),
                "events_per_s_runs": rates,
                "ratio": round(statistics.median(ratios[name]), 3),
                "ratio_runs": [round(r, 3) for r in ratios[name]],
                "backfill_latency_p50_ms": statistics.median(
                    r["latency_p50_ms"] for r in runs[name]
                ),
                "live": {
                    "checkpoints_per_s": args.live_rate,
                    "latency_p50_ms": live["latency_p50_ms"],
                    "latency_p99_ms": live["latency_p99_ms"],
                },
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=10, help="events per checkpoint")
    parser.add_argument("--batch", type=int, default=100, help="indexer.batch_checkpoints")
    parser.add_argument("--live-rate", type=float, default=50.0, help="checkpoints/s for latency")
    parser.add_argument("--live-seconds", type=float, default=4.0)
    parser.add_argument("--postgres-url", default=None, help="superuser URL of a PostgreSQL server")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="daas-bench-") as tmp, contextlib.ExitStack() as stack:
        engines = {"sqlite": f"sqlite:///{tmp}/bench.db"}
        if not args.no_postgres:
            admin, origin = stack.enter_context(postgres_server(args.postgres_url))
            if admin is None:
                notes["postgresql"] = f"skipped: {origin}"
            else:
                from tests.fixtures.postgres import fresh_database

                engines["postgresql"] = stack.enter_context(fresh_database(admin))
                notes["postgresql"] = origin
        result = asyncio.run(measure(args, engines))
    output = {
        "benchmark": "indexer: gRPC checkpoint stream -> database",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "checkpoints": args.checkpoints,
        "events_per_checkpoint": args.events,
        "batch_checkpoints": args.batch,
        **result,
        "notes": notes,
        "goals": {"ratio_min": 0.5, "parse_ratio_min": 5.0, "latency_p50_ms_max": 50.0},
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
