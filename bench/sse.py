"""SSE fan-out of the API, and requests/s of `GET /v1/builds/{id}`, on one API process.

The API process (pinned to CPU 0) is the real app (`api.app.create_app`) under uvicorn over SQLite, with a
writer task in the same process that appends one build event every 1/`--rate` s and fires the in-process
wake-up, so every event goes through the database, the shared feed and sse-starlette exactly as in
production. The clients run in another process (pinned to CPU 1): raw sockets on uvloop, connected to the
global feed `/v1/events` in bursts of 50 every 20 ms; each receives every event (`--rate` events/s).

Per client count N: after a warm-up, events created during the measured window give the delivery latency
(receive time - the event's wall-clock `ts`) p50/p99, the delivery percentage (events received / N x events
written in the window) and the API process's CPU (its /proc utime+stime over the window). Then `build_get_rps`:
keep-alive connections requesting one build as fast as the API answers.

Output is JSON on stdout, with keys like `clients_1500.p99_ms`.

    .venv/bin/python bench/sse.py [--clients 100,1000,1500] [--rate 20] [--measure 10] [--warmup 3]

`DAAS_BENCH_PROFILE=FILE` writes a cProfile of the (last) API process to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import socket
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REQUEST = "0x" + "ab" * 32
TICK = os.sysconf("SC_CLK_TCK")


# --- the API process ------------------------------------------------------------------------------------


def _serve(port_out: Connection, data_dir: str, rate: float, plain: bool) -> None:
    """The API process: app + writer on one event loop, pinned to CPU 0."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    import anyio
    import uvicorn

    from api.app import create_app
    from api.deps import HealthPolicy
    from api.process import tune_gc
    from daas.config import load_settings
    from daas.db import notify
    from daas.db.engine import create_engine_for, session_scope
    from daas.db.migrate import upgrade
    from daas.db.models import EventKind
    from daas.db.repos import builds, events
    from tests.api.support import bind_socket, make_build

    settings = load_settings(data_dir=Path(data_dir), api={"sse_client_buffer": 1000})
    engine = create_engine_for(settings.effective_database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        builds.upsert_requested(session, make_build(REQUEST))
        session.commit()
    wakeup = notify.Wakeup()
    app = create_app(
        settings,
        engine=engine,
        notifier=wakeup,
        cross_process_events=False,
        health=HealthPolicy(None, None),
    )
    sock = bind_socket()
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="error",
        access_log=False,
        # plain: what a bare `pip install uvicorn` runs (asyncio + h11); else uvloop + httptools if present
        loop="asyncio" if plain else "auto",
        http="h11" if plain else "auto",
    )
    server = uvicorn.Server(config)

    def write_one(n: int) -> None:
        with session_scope(engine) as session:
            events.append(session, REQUEST, EventKind.LOG, {"n": n, "ts": time.time()})
            session.commit()

    async def writer() -> None:
        period = 1.0 / rate
        n = 0
        next_at = time.monotonic()
        while True:
            next_at += period
            await anyio.to_thread.run_sync(write_one, n)
            wakeup.fire()
            n += 1
            await anyio.sleep(max(0.0, next_at - time.monotonic()))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await anyio.sleep(0.01)
            tune_gc()  # as `daas api` does
            port_out.send(sock.getsockname()[1])
            await writer()

    profile_to = os.environ.get("DAAS_BENCH_PROFILE")
    if profile_to:
        import cProfile
        import signal

        profiler = cProfile.Profile()
        profiler.enable()

        def dump(*_: Any) -> None:
            profiler.disable()
            profiler.dump_stats(profile_to)
            os._exit(0)

        signal.signal(signal.SIGTERM, dump)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop = None if plain else _uvloop()
        if uvloop is not None:
            uvloop.run(main())
        else:
            asyncio.run(main())


def _uvloop() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# --- the client process ---------------------------------------------------------------------------------


class _SseClient(asyncio.Protocol):
    def __init__(self, sink: list[tuple[int, float, float]], window: list[float]) -> None:
        self.sink = sink
        self.window = window
        self.buffer = b""
        self.connected = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            block, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            at = block.find(b'"ts":')
            if at < 0:
                continue
            ts = float(block[at + 5 : block.index(b"}", at)])
            if self.window[0] <= ts < self.window[1]:
                n_at = block.find(b'"n":')
                n = int(block[n_at + 4 : block.index(b",", n_at)])
                self.sink.append((n, ts, now))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


async def _fan_out(port: int, clients: int, warmup: float, measure: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    window = [float("inf"), float("inf")]
    sinks: list[list[tuple[int, float, float]]] = []
    protocols: list[_SseClient] = []
    request = b"GET /v1/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    started = time.monotonic()
    for i in range(0, clients, 50):
        for _ in range(min(50, clients - i)):
            sink: list[tuple[int, float, float]] = []
            sinks.append(sink)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            transport, protocol = await loop.create_connection(
                lambda sink=sink: _SseClient(sink, window), sock=sock
            )
            transport.write(request)
            protocols.append(protocol)
        await asyncio.sleep(0.02)
    connect_s = time.monotonic() - started
    await asyncio.sleep(warmup)
    window[0] = time.time()
    window[1] = window[0] + measure
    await asyncio.sleep(measure + 1.0)  # the last events of the window still arrive
    for protocol in protocols:
        protocol.transport.close()
    written = {n for sink in sinks for n, _, _ in sink}
    latencies = sorted((now - ts) * 1000 for sink in sinks for _, ts, now in sink)
    per_client = [len({n for n, _, _ in sink}) for sink in sinks]
    expected = len(written) * clients
    return {
        "connect_s": round(connect_s, 2),
        "events_in_window": len(written),
        "p50_ms": round(_quantile(latencies, 0.50), 1),
        "p99_ms": round(_quantile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "delivery_pct": round(100.0 * sum(per_client) / expected, 2) if expected else 0.0,
        "slowest_client_pct": round(100.0 * min(per_client) / len(written), 1) if written else 0.0,
        "closed_by_server": sum(p.closed for p in protocols),
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, int(q * len(values) + 0.5) - 1))]


async def _rps(port: int, connections: int, seconds: float) -> float:
    request = f"GET /v1/builds/{REQUEST} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    done = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                if b" 200 " not in head[:16]:
                    raise RuntimeError(head.decode(errors="replace"))
                done += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    return done / (time.monotonic() - started)


def _client(port: int, job: dict[str, Any], out: Connection) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})
    uvloop = _uvloop()
    run = uvloop.run if uvloop is not None else asyncio.run
    if job["kind"] == "fan_out":
        out.send(run(_fan_out(port, job["clients"], job["warmup"], job["measure"])))
    else:
        out.send(run(_rps(port, job["connections"], job["seconds"])))


def _run_client(port: int, job: dict[str, Any], server_pid: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_client, args=(port, job, send))
    cpu_before = _cpu_seconds(server_pid)
    wall_before = time.monotonic()
    process.start()
    result = receive.recv()
    process.join(30)
    wall = time.monotonic() - wall_before
    cpu = _cpu_seconds(server_pid) - cpu_before
    if isinstance(result, dict):
        # Over the whole run (connect, warm-up, window): the window alone is not separable from outside.
        result["server_cpu_pct"] = round(100.0 * cpu / wall, 1)
        return result
    return {"rps": round(result, 1), "server_cpu_pct": round(100.0 * cpu / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000,1500")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second (each client)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument(
        "--plain", action="store_true", help="serve with asyncio + h11 even if uvloop is installed"
    )
    parser.add_argument("--rps-connections", type=int, default=16)
    parser.add_argument(
        "--rps-seconds", type=float, default=5.0, help="0 skips the requests/s part"
    )
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rate_per_client": args.rate,
        "server": "asyncio+h11" if args.plain or _uvloop() is None else "uvloop+httptools",
    }
    for count in [int(c) for c in args.clients.split(",") if c]:
        with tempfile.TemporaryDirectory(prefix="daas-bench-sse-") as data_dir:
            receive, send = ctx.Pipe(duplex=False)
            server = ctx.Process(
                target=_serve, args=(send, data_dir, args.rate, args.plain), daemon=True
            )
            server.start()
            try:
                port = receive.recv()
                job = {
                    "kind": "fan_out",
                    "clients": count,
                    "warmup": args.warmup,
                    "measure": args.measure,
                }
                results[f"clients_{count}"] = _run_client(port, job, server.pid or 0)
                print(
                    json.dumps({f"clients_{count}": results[f"clients_{count}"]}), file=sys.stderr
                )
            finally:
                server.terminate()
                server.join(10)
    if args.rps_seconds <= 0:
        print(json.dumps(results, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="daas-bench-rps-") as data_dir:
        receive, send = ctx.Pipe(duplex=False)
        # The writer keeps going at 1 event/s: a realistic, quiet database.
        server = ctx.Process(target=_serve, args=(send, data_dir, 1.0, args.plain), daemon=True)
        server.start()
        try:
            port = receive.recv()
            job = {"kind": "rps", "connections": args.rps_connections, "seconds": args.rps_seconds}
            measured = _run_client(port, job, server.pid or 0)
            results["build_get_rps"] = measured["rps"]
            results["build_get_server_cpu_pct"] = measured["server_cpu_pct"]
        finally:
            server.terminate()
            server.join(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
