"""Helpers for the API tests: uvicorn on 127.0.0.1, rows to serve, and a minimal SSE client.

The SSE client reads the raw stream the way EventSource does: an event is dispatched only at its blank line,
so a stream cut in the middle of an event drops that event (and the reconnect asks for it again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from daas.db.engine import session_scope
from daas.db.models import Build, BuildStatus, EventKind
from daas.db.repos import builds, events

REQUEST = "0x" + "ab" * 32
REQUESTER = "0x" + "cd" * 32
SHA = "11" * 32


def request_id(n: int) -> str:
    return "0x" + f"{n:064x}"


def make_build(
    request_id: str = REQUEST, *, created_at_ms: int = 1_700_000_000_000, **fields: Any
) -> Build:
    values: dict[str, Any] = {
        "request_id": request_id,
        "requester": REQUESTER,
        "source_blob_id": "M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk",
        "source_sha256": SHA,
        "dockerfile_path": "Dockerfile",
        "platform": "linux/amd64",
        "spec_digest": "22" * 32,
        "fee": 10_000_000,
        "created_at_ms": created_at_ms,
        "deadline_ms": created_at_ms + 3_600_000,
    }
    values.update(fields)
    return Build(**values)


def insert_build(engine: sa.Engine, build: Build) -> None:
    with session_scope(engine) as session:
        builds.upsert_requested(session, build)
        session.commit()


def add_events(
    engine: sa.Engine, build_id: str, items: list[tuple[EventKind, dict[str, Any]]]
) -> list[int]:
    with session_scope(engine) as session:
        ids = events.append_many(session, [events.NewEvent(build_id, k, p) for k, p in items])
        session.commit()
    return ids


def settle(
    engine: sa.Engine, build_id: str, status: BuildStatus = BuildStatus.SUCCEEDED, **result: Any
) -> int:
    """Mark the build final and write its final event in one transaction, as the indexer does: `result`
    for a succeeded or failed build, `status` for a cancelled one."""
    kind = EventKind.STATUS if status is BuildStatus.CANCELLED else EventKind.RESULT
    payload = {"status": status.value, "source": "chain", "final": True}
    with session_scope(engine) as session:
        builds.advance_status(session, build_id, status, **result)
        (event_id,) = events.append_many(session, [events.NewEvent(build_id, kind, payload)])
        session.commit()
    return event_id


def bind_socket() -> socket.socket:
    # proto must say TCP, or asyncio does not set TCP_NODELAY and every response waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test process owns its signals
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in this event loop (lifespan on); yields the base URL."""
    sock = bind_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=1
    )
    server = _Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                    await anyio.sleep(0.01)
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()


@dataclasses.dataclass
class SseEvent:
    id: int
    kind: str
    data: dict[str, Any]


@dataclasses.dataclass
class SseRead:
    events: list[SseEvent]
    status: int
    ended: bool  # the server ended the stream (rather than the reader stopping)


async def read_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    last_event_id: int | None = None,
    max_events: int | None = None,
    seconds: float = 10.0,
    params: dict[str, Any] | None = None,
) -> SseRead:
    """Read events until the stream ends, `max_events` arrived, or `seconds` pass."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    got: list[SseEvent] = []
    ended = False
    status = 0
    with anyio.move_on_after(seconds):
        async with client.stream("GET", url, headers=headers, params=params) as response:
            status = response.status_code
            if status != 200:
                await response.aread()
                return SseRead(got, status, True)
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in fields:
                        got.append(
                            SseEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                        )
                        if max_events is not None and len(got) >= max_events:
                            return SseRead(got, status, False)
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            ended = True
    return SseRead(got, status, ended)
