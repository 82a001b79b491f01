"""`BuildLog`: the numbered log of a build, written to the database in small batches as it is produced.

Each line gets the next number (continuing after earlier attempts' lines, so a build's log reads in order
across attempts). A flusher task writes what accumulated every `flush_interval_s`, or sooner once a batch
is full, in one short transaction per batch:

- the lines into `build_log_lines` (`repos.logs.append_lines`; replays are harmless),
- one `log` build event whose payload carries the same lines, for the SSE feed::

      {"first_line": 12, "last_line": 14,
       "lines": [{"line": 12, "stream": "stdout", "text": "..."}, ...]}

- a notification (PostgreSQL `NOTIFY`), so listeners in other processes wake up.

A build that prints without end cannot fill the database: past `max_lines` or `max_bytes` lines are counted
and dropped, and `close()` adds one `system` line saying how many. When the writer falls behind, `line()`
waits for a flush (back-pressure reaches the build's output stream, not memory).
"""

from __future__ import annotations

import logging

import anyio
import sqlalchemy as sa

from daas.build.ports import LogStream
from daas.db import notify
from daas.db.engine import session_scope
from daas.db.models import EventKind
from daas.db.models import LogStream as StoredStream
from daas.db.repos import events, logs
from daas.db.repos.logs import LogLine
from daas.errors import DatabaseError

__all__ = ["BuildLog"]

log = logging.getLogger(__name__)

BATCH_LINES = 200
BATCH_BYTES = 64 * 1024
FLUSH_INTERVAL_S = 0.1
MAX_LINES = 100_000
MAX_BYTES = 32 * 1024 * 1024


class BuildLog:
    """Log lines of one build; `await line(stream, text)` is a `daas.build.LogSink`. Create with `open`."""

    def __init__(
        self,
        engine: sa.Engine,
        build_id: str,
        *,
        first_line: int,
        batch_lines: int = BATCH_LINES,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._engine = engine
        self.build_id = build_id
        self.first_line = first_line
        self._next = first_line
        self._batch_lines = batch_lines
        self._flush_interval_s = flush_interval_s
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._pending: list[LogLine] = []
        self._pending_bytes = 0
        self._kept_lines = 0
        self._kept_bytes = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self._full = anyio.Event()
        self._flushing = anyio.Lock()

    @classmethod
    async def open(
        cls,
        engine: sa.Engine,
        build_id: str,
        *,
        batch_lines: int = BATCH_LINES,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
    ) -> BuildLog:
        """A log continuing after the lines the build already has."""

        def next_line() -> int:
            with session_scope(engine) as session:
                return logs.next_line_no(session, build_id)

        first = await anyio.to_thread.run_sync(next_line)
        return cls(
            engine,
            build_id,
            first_line=first,
            batch_lines=batch_lines,
            flush_interval_s=flush_interval_s,
            max_lines=max_lines,
            max_bytes=max_bytes,
        )

    @property
    def next_line(self) -> int:
        return self._next

    async def line(self, stream: LogStream, text: str) -> None:
        size = len(text.encode("utf-8", "replace"))
        if self._kept_lines >= self._max_lines or self._kept_bytes + size > self._max_bytes:
            self.dropped_lines += 1
            self.dropped_bytes += size
            return
        self._append(stream, text, size)
        if len(self._pending) >= 4 * self._batch_lines or self._pending_bytes >= 4 * BATCH_BYTES:
            await self.flush()  # the flusher is behind: hold the producer back

    async def system(self, text: str) -> None:
        """A line of the runner's own about the build (steps, outcome)."""
        await self.line("system", text)

    def _append(self, stream: LogStream, text: str, size: int) -> None:
        self._pending.append(LogLine(self._next, text, StoredStream(stream)))
        self._next += 1
        self._kept_lines += 1
        self._kept_bytes += size
        self._pending_bytes += size
        if len(self._pending) >= self._batch_lines or self._pending_bytes >= BATCH_BYTES:
            self._full.set()

    async def run(self) -> None:
        """The flusher: run it in the build's task group and cancel it when the build ends."""
        while True:
            with anyio.move_on_after(self._flush_interval_s):
                await self._full.wait()
            self._full = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every pending line now (in order: one flush at a time)."""
        async with self._flushing:
            batch, self._pending, self._pending_bytes = self._pending, [], 0
            if batch:
                await anyio.to_thread.run_sync(self._write, batch)

    async def close(self) -> None:
        """Note dropped lines, write what is pending. Call under a shield when the build ends."""
        if self.dropped_lines:
            self._append(
                "system",
                f"[{self.dropped_lines} more lines ({self.dropped_bytes} bytes) not kept: a build's "
                f"log is capped at {self._max_lines} lines and {self._max_bytes} bytes]",
                0,
            )
            self.dropped_lines = self.dropped_bytes = 0
        try:
            await self.flush()
        except DatabaseError as exc:
            log.warning("could not write the last log lines of %s: %s", self.build_id, exc)

    def _write(self, batch: list[LogLine]) -> None:
        payload = {
            "first_line": batch[0].line_no,
            "last_line": batch[-1].line_no,
            "lines": [
                {"line": line.line_no, "stream": line.stream.value, "text": line.text}
                for line in batch
            ],
        }
        with session_scope(self._engine) as session:
            logs.append_lines(session, self.build_id, batch)
            events.append(session, self.build_id, EventKind.LOG, payload)
            notify.publish(session, payload=self.build_id)
            session.commit()
