"""SSE over a real socket (uvicorn on 127.0.0.1): resume anywhere, live delivery, slow clients, other processes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.deps import HealthPolicy
from daas.config import Settings
from daas.db import notify
from daas.db.engine import session_scope
from daas.db.models import BuildStatus, EventKind
from daas.db.repos import builds, events
from tests.api.support import (
    REQUEST,
    SseEvent,
    add_events,
    insert_build,
    make_build,
    read_sse,
    request_id,
    serve,
    settle,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KINDS = [EventKind.STEP, EventKind.LOG, EventKind.LOG, EventKind.RESULT]


def _mixed(n: int, start: int = 0) -> list[tuple[EventKind, dict[str, Any]]]:
    return [
        (KINDS[i % len(KINDS)], {"n": start + i, "text": f"line {start + i}\nsecond"})
        for i in range(n)
    ]


def _ids(events: list[SseEvent]) -> list[int]:
    return [e.id for e in events]


async def test_resume_at_every_position_of_a_finished_stream(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    insert_build(engine, make_build())
    ids: list[int] = []
    for batch in range(4):  # several transactions, as runner and indexer write them
        ids += add_events(engine, REQUEST, _mixed(6, start=batch * 6))
    ids.append(settle(engine, REQUEST))
    url = f"/v1/builds/{REQUEST}/events"

    full = await read_sse(client, url)
    assert full.status == 200 and full.ended
    assert _ids(full.events) == ids
    assert [e.kind for e in full.events[:4]] == ["step", "log", "log", "result"]
    assert full.events[-1].kind == "result" and full.events[-1].data["final"] is True
    assert full.events[1].data["payload"] == {"n": 1, "text": "line 1\nsecond"}

    for position, last in enumerate(ids[:-1]):
        resumed = await read_sse(client, url, last_event_id=last)
        assert resumed.ended, position
        assert _ids(resumed.events) == ids[position + 1 :], position
    # ?after= does the same, and the header wins over it (EventSource keeps the URL on reconnect).
    by_query = await read_sse(client, url, params={"after": ids[10]})
    assert _ids(by_query.events) == ids[11:]
    both = await read_sse(client, url, params={"after": ids[2]}, last_event_id=ids[20])
    assert _ids(both.events) == ids[21:]
    # After the final event there is nothing more: 204 tells EventSource to stop reconnecting.
    done = await read_sse(client, url, last_event_id=ids[-1])
    assert done.status == 204 and done.events == []


async def test_resume_at_every_position_while_events_arrive_live(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    """The client takes one event per connection and reconnects, while a writer keeps adding events: every
    reconnect lands at a different point of the replay/subscribe/live hand-over."""
    insert_build(engine, make_build())
    first = add_events(engine, REQUEST, _mixed(3))
    written: list[int] = list(first)
    url = f"/v1/builds/{REQUEST}/events"

    async def writer() -> None:
        for i in range(3, 40):
            written.extend(
                await anyio.to_thread.run_sync(add_events, engine, REQUEST, _mixed(1, start=i))
            )
            await anyio.sleep(0.004 * (i % 4))
        written.append(await anyio.to_thread.run_sync(settle, engine, REQUEST))

    received: list[SseEvent] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        last: int | None = None
        for _ in range(200):
            read = await read_sse(client, url, last_event_id=last, max_events=1, seconds=10)
            if read.status == 204:
                break
            assert read.status == 200
            received += read.events
            if read.events:
                last = read.events[-1].id
            if read.ended and read.events and read.events[-1].data["final"]:
                break
    assert _ids(received) == written
    assert [e.data["payload"].get("n") for e in received[:-1]] == list(range(40))


async def test_global_feed_resumes_across_builds(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    a, b = request_id(1), request_id(2)
    insert_build(engine, make_build(a))
    insert_build(engine, make_build(b))
    ids: list[int] = []
    for i in range(6):
        ids += add_events(engine, a if i % 2 else b, _mixed(2, start=i * 2))
    for position in range(len(ids)):
        after = 0 if position == 0 else ids[position - 1]
        read = await read_sse(
            client, "/v1/events", last_event_id=after, max_events=len(ids) - position
        )
        assert _ids(read.events) == ids[position:]
        assert {e.data["build_id"] for e in read.events} <= {a, b}
    # Without a cursor the global feed starts at the newest event: only new events arrive.
    async with anyio.create_task_group() as tg:
        results: list[list[SseEvent]] = []

        async def listen() -> None:
            results.append((await read_sse(client, "/v1/events", max_events=2, seconds=10)).events)

        tg.start_soon(listen)
        await anyio.sleep(0.3)
        new = add_events(engine, a, _mixed(2, start=100))
    assert _ids(results[0]) == new


async def test_live_events_from_the_same_process_arrive_through_the_wakeup(
    settings: Settings, engine: sa.Engine
) -> None:
    wakeup = notify.Wakeup()
    app = create_app(
        settings,
        engine=engine,
        notifier=wakeup,
        cross_process_events=False,
        health=HealthPolicy(None, None),
    )
    insert_build(engine, make_build())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        async with anyio.create_task_group() as tg:
            got: list[SseEvent] = []

            async def listen() -> None:
                got.extend(
                    (await read_sse(http, f"/v1/builds/{REQUEST}/events", seconds=10)).events
                )

            tg.start_soon(listen)
            await anyio.sleep(0.2)
            started = time.monotonic()
            ids = add_events(engine, REQUEST, _mixed(2))
            wakeup.fire()
            ids.append(settle(engine, REQUEST))
            wakeup.fire()
        # The feed's fallback poll is 2 s; a wake-up delivers far sooner.
        assert time.monotonic() - started < 1.5
    assert _ids(got) == ids


async def test_a_stream_ends_after_a_cancellation(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    insert_build(engine, make_build())
    ids = add_events(engine, REQUEST, _mixed(2))
    ids.append(settle(engine, REQUEST, BuildStatus.CANCELLED))
    read = await read_sse(client, f"/v1/builds/{REQUEST}/events")
    assert read.ended and _ids(read.events) == ids
    assert read.events[-1].kind == "status" and read.events[-1].data["final"] is True


async def test_unknown_build_and_bad_cursor_are_client_errors(
    client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    missing = await client.get(f"/v1/builds/{request_id(77)}/events")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    insert_build(engine, make_build())
    for bad in ["abc", "-1", "1.5", "99999999999999999999999"]:
        response = await client.get(f"/v1/builds/{REQUEST}/events", headers={"Last-Event-ID": bad})
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["loc"] == ["header", "Last-Event-ID"]
    response = await client.get("/v1/events", params={"after": "x"})
    assert response.status_code == 422


# --- a client that stops reading ------------------------------------------------------------------------


async def _raw_stream(
    port: int, path: str, last_event_id: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window, so the server's writes back up after a few hundred kilobytes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    header = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{header}\r\n".encode()
    )
    await writer.drain()
    return reader, writer


def _complete_events(body: bytes) -> list[int]:
    """Ids of the events whose blank line arrived (what EventSource would have dispatched)."""
    text = body.decode(errors="replace").replace("\r\n", "\n")
    ids = []
    for block in text.split("\n\n")[:-1]:
        for line in block.split("\n"):
            if line.startswith("id: "):
                ids.append(int(line[4:]))
    return ids


def _dechunk(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    out = bytearray()
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


async def test_a_client_that_stops_reading_is_cut_off_and_resumes_cleanly(
    settings: Settings, engine: sa.Engine
) -> None:
    settings = settings.model_copy(
        update={
            "api": settings.api.model_copy(
                update={"sse_client_buffer": 10, "sse_send_timeout_s": 1.0}
            )
        }
    )
    app = create_app(settings, engine=engine, health=HealthPolicy(None, None))
    insert_build(engine, make_build())
    big = "x" * 16_000
    total = 240
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await _raw_stream(port, f"/v1/builds/{REQUEST}/events")
        try:
            first = await reader.readuntil(
                b"retry: "
            )  # subscribed: headers and the first chunk are out
            ids: list[int] = []
            for start in range(0, total, 20):
                batch = [(EventKind.LOG, {"n": start + i, "blob": big}) for i in range(20)]
                ids += await anyio.to_thread.run_sync(add_events, engine, REQUEST, batch)
            # Not reading for a while: the server's writes stall, its buffer for us overflows.
            await anyio.sleep(2.5)
            with anyio.fail_after(15):
                rest = await reader.read()  # returns at EOF: the server closed the stream
        finally:
            writer.close()
        got = _complete_events(_dechunk(first + rest))
        assert len(got) < total, "the slow client was not cut off"
        assert got == ids[: len(got)]
        metrics = (await http.get("/metrics")).text
        assert 'daas_api_sse_closed_total{reason="overflow"}' in metrics or (
            'daas_api_sse_closed_total{reason="send_timeout"}' in metrics
        )
        # It resumes from its last complete event and gets the rest, once each.
        final = settle(engine, REQUEST)
        resumed = await read_sse(
            http, f"/v1/builds/{REQUEST}/events", last_event_id=got[-1] if got else 0, seconds=20
        )
        assert got + _ids(resumed.events) == [*ids, final]


# --- another process writes ----------------------------------------------------------------------------

WRITER = """
import sys, time
from daas.db import notify
from daas.db.engine import create_engine_for, session_scope
from daas.db.models import BuildStatus, EventKind
from daas.db.repos import builds, events

url, build_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = create_engine_for(url)
for i in range(count):
    with session_scope(engine) as session:
        events.append(session, build_id, EventKind.STEP if i % 2 else EventKind.LOG, {"n": i, "t": time.time()})
        notify.publish(session)
        session.commit()
    time.sleep(0.05)
with session_scope(engine) as session:
    builds.advance_status(session, build_id, BuildStatus.FAILED, error_code=110)
    events.append(session, build_id, EventKind.RESULT, {"status": "failed", "final": True, "t": time.time()})
    notify.publish(session)
    session.commit()
engine.dispose()
"""


async def test_events_written_by_another_process_arrive_live(
    client: httpx.AsyncClient, engine: sa.Engine, db_url: str
) -> None:
    insert_build(engine, make_build())
    received: list[tuple[SseEvent, float]] = []

    async def listen() -> None:
        headers = {"Accept": "text/event-stream"}
        async with client.stream(
            "GET", f"/v1/builds/{REQUEST}/events", headers=headers
        ) as response:
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "" and "data" in fields:
                    event = SseEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                    received.append((event, time.time()))
                    fields = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    count = 20
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await anyio.sleep(0.3)
            process = await anyio.run_process(
                [sys.executable, "-c", WRITER, db_url, REQUEST, str(count)],
                env=env,
                cwd=ROOT,
                check=True,
            )
            assert process.returncode == 0
    events = [event for event, _ in received]
    assert [e.data["payload"]["n"] for e in events[:-1]] == list(range(count))
    assert events[-1].data["final"] is True and events[-1].data["payload"]["status"] == "failed"
    assert _ids(events) == sorted(set(_ids(events)))
    # Live: each event arrived soon after it was written (SQLite polls every 0.2 s; PostgreSQL notifies).
    delays = [arrived - event.data["payload"]["t"] for event, arrived in received]
    assert max(delays) < 1.5, delays


async def test_a_stream_carries_the_runners_last_lines_after_the_final_event(
    settings: Settings, engine: sa.Engine
) -> None:
    """The indexer may record the result before the runner writes its closing lines and releases the
    build: the stream goes on until the release, and a reconnection meanwhile is not told 204."""
    wakeup = notify.Wakeup()
    app = create_app(
        settings, engine=engine, notifier=wakeup, cross_process_events=False,
        health=HealthPolicy(None, None),
    )  # fmt: skip
    insert_build(engine, make_build())
    with session_scope(engine) as session:
        assert (
            builds.claim_next(session, owner="runner-1", lease_ms=60_000, max_attempts=3)
            is not None
        )
        session.commit()
    ids = add_events(engine, REQUEST, _mixed(2))
    ids.append(settle(engine, REQUEST))
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        anyio.create_task_group() as tg,
    ):
        got: list[SseEvent] = []
        ended: list[float] = []

        async def listen() -> None:
            read = await read_sse(http, f"/v1/builds/{REQUEST}/events", seconds=10)
            got.extend(read.events)
            ended.append(time.monotonic())

        tg.start_soon(listen)
        await anyio.sleep(0.5)
        # Settled on chain but still held by the runner: a client that has every event so far gets a
        # stream (to wait for the rest), not 204.
        early = await read_sse(
            http, f"/v1/builds/{REQUEST}/events", last_event_id=ids[-1], seconds=0.3
        )
        assert early.status == 200
        assert not ended, "the stream ended while the runner still held the build"
        last = [
            (EventKind.LOG, {"line": 99, "text": "attempt 1 ended: succeeded"}),
            (EventKind.STEP, {"step": "done", "outcome": "succeeded"}),
        ]
        with session_scope(engine) as session:
            trailing = events.append_many(
                session, [events.NewEvent(REQUEST, k, p) for k, p in last]
            )
            assert builds.release_lease(session, REQUEST, owner="runner-1")
            session.commit()
        released = time.monotonic()
        wakeup.fire()
    assert _ids(got) == [*ids, *trailing]
    assert ended[0] - released < 2.0
    # Released and read to the end: now a reconnection is told there is nothing more.
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        done = await read_sse(http, f"/v1/builds/{REQUEST}/events", last_event_id=trailing[-1])
    assert done.status == 204
