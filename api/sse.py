"""SSE streams of build events: replay from the database, then live from the process's `EventFeed`.

A stream starts after a cursor (the client's Last-Event-ID, or `?after=`) and runs in three phases:

1. replay: pages of events after the cursor, straight from the database (at least one read: the feed may
   not have seen the newest commits yet);
2. subscribe: from now on the feed pushes every event above its tail (`subscription.start_id`). If the cursor
   is still below that tail (events committed during the last page), one more read from the database
   covers the ids up to it;
3. live: batches from the subscription, minus any id at or below the cursor (already sent).

Every id above the original cursor is sent exactly once: the database holds all of them, the feed pushes only
ids above `start_id`, anything at or below `start_id` comes from a read made after subscribing, and the cursor
only moves forward. A per-build stream ends after the build's final event and the runner's last words: the
final event comes from the indexer when the result is on chain, and the runner may still be writing its closing
log lines and step then. So after the final event the stream goes on live, checking at each batch whether a
runner still holds the build's lease, for at most `SETTLE_S`; the lease is released in the same transaction as
the runner's last event, so one more read from the database then completes the stream. The route answers
204 instead of a stream when the build is settled, released, and the client already has its last event. A
client more than the per-client buffer behind is cut off; it reconnects with its Last-Event-ID and replays from
the database.

Per live event a client costs one task wake-up and one `send`: frames are encoded once by the feed, and the
send timeout is a timer rather than a cancel scope per message (see `FeedResponse`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator

import anyio
import sqlalchemy as sa
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from api.feed import EventFeed, FeedEvent, Overflowed, Subscription, encode_event
from api.metrics import ApiMetrics
from daas.db.engine import session_scope
from daas.db.models import BuildEvent
from daas.db.repos import builds, events

__all__ = ["RECONNECT_MS", "EventStream", "FeedResponse"]

_log = logging.getLogger(__name__)

PAGE = 500
# Suggested reconnection delay (SSE `retry:`); clients should add jitter of their own.
RECONNECT_MS = 2000
_RETRY_FRAME = f"retry: {RECONNECT_MS}\n\n".encode()
# On shutdown, streams get this long to end cleanly (below `daas api`'s graceful shutdown timeout).
SHUTDOWN_GRACE_S = 1.0
# After a build's final event, how long the stream waits for its runner to finish writing (a runner that
# died holding the lease never does).
SETTLE_S = 10.0


class EventStream:
    """One client's stream (see the module docstring); iterate `chunks()` for its bytes."""

    def __init__(
        self,
        engine: sa.Engine,
        feed: EventFeed,
        metrics: ApiMetrics,
        *,
        build_id: str | None,
        after: int,
        replay: bool = True,
    ) -> None:
        self._engine = engine
        self._feed = feed
        self._metrics = metrics
        self.build_id = build_id
        self.cursor = after
        # False when `after` is the newest id just read from the database: nothing to replay.
        self.replay = replay
        self.finished = False  # the build's final event was sent (per-build streams only)
        self._settle_deadline: float | None = None
        self._sub: Subscription | None = None
        self._stopped = False

    def stop(self) -> None:
        """End the stream at its next step (server shutdown): the client resumes elsewhere."""
        self._stopped = True
        if self._sub is not None:
            self._sub.close()

    @property
    def label(self) -> str:
        return "global" if self.build_id is None else "build"

    async def chunks(self) -> AsyncIterator[bytes]:
        yield _RETRY_FRAME
        # 1. replay from the database (the feed may lag behind it: read at least once)
        while self.replay:
            frames, more = await self._replay()
            if frames:
                yield frames
            if not more:
                break
        # 2. subscribe; read once more if events at or below the feed's tail may still be missing
        if self._stopped:
            return
        sub = self._sub = self._feed.subscribe(self.build_id)
        try:
            while self.cursor < sub.start_id:
                frames, more = await self._replay()
                if frames:
                    yield frames
                if not more:
                    break
            # 3. live, until the build is over: its final event, then its runner's last ones
            while not (self.finished and await self._runner_done()):
                batch: list[FeedEvent] | None = None
                try:
                    with anyio.move_on_after(self._settle_left()):
                        batch = await sub.next_batch()
                except Overflowed:
                    self._closed("overflow")
                    return
                if batch is None:  # the settle deadline passed
                    continue
                if not batch:  # stopped: server shutdown
                    return
                frames, count = self._take(batch)
                if count:  # (counted by the feed when it pushed them)
                    yield frames
            # The release commits with the runner's last event, which the feed may not have pushed yet.
            while True:
                frames, more = await self._replay()
                if frames:
                    yield frames
                if not more:
                    break
            self._closed("final")
        finally:
            self._sub = None
            self._feed.unsubscribe(sub)

    def _settle_left(self) -> float:
        if self._settle_deadline is None:
            return math.inf
        return max(0.0, self._settle_deadline - anyio.current_time())

    async def _runner_done(self) -> bool:
        """After the final event: no runner holds the build any more, or `SETTLE_S` passed since."""
        if self._settle_deadline is None:
            self._settle_deadline = anyio.current_time() + SETTLE_S
        elif self._settle_left() == 0:
            return True
        return await anyio.to_thread.run_sync(self._released)

    def _released(self) -> bool:
        assert self.build_id is not None
        with session_scope(self._engine) as session:
            return builds.released(session, self.build_id)

    def _take(self, batch: list[FeedEvent]) -> tuple[bytes, int]:
        """The frames of events above the cursor; and their number. Notes a build's final event."""
        if len(batch) == 1:  # the common live case, without the list and join
            event = batch[0]
            if event.id <= self.cursor:
                return b"", 0
            self.cursor = event.id
            self.finished = self.finished or (event.final and self.build_id is not None)
            return event.frame, 1
        out = []
        for event in batch:
            if event.id <= self.cursor:
                continue
            out.append(event.frame)
            self.cursor = event.id
            self.finished = self.finished or (event.final and self.build_id is not None)
        return b"".join(out), len(out)

    async def _replay(self) -> tuple[bytes, bool]:
        """One page from the database after the cursor; and whether a full page came back."""
        rows = await anyio.to_thread.run_sync(self._read_page, self.cursor)
        frames, count = self._take([encode_event(row) for row in rows])
        if count:
            self._metrics.sse_events_sent.inc("replay", amount=count)
        return frames, len(rows) == PAGE

    def _read_page(self, after: int) -> list[BuildEvent]:
        with session_scope(self._engine) as session:
            return events.list_after(session, after_id=after, build_id=self.build_id, limit=PAGE)

    def _closed(self, reason: str) -> None:
        self._metrics.sse_disconnects.inc(reason)


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping")


class _StopOnShutdown:
    """What sse-starlette sets when the server shuts down (its `shutdown_event`, of which it only calls
    `set`): the stream ends cleanly within the grace period instead of being cancelled mid-response."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    def set(self) -> None:
        self._stream.stop()


class FeedResponse(EventSourceResponse):
    """`EventSourceResponse` for an `EventStream`: pings, a send timeout, and a quiet end for stuck clients.

    The send timeout replaces sse-starlette's `anyio.move_on_after` around every send (a cancel scope per
    message, about a third of the per-message cost at a thousand clients) with one timer per send that
    cancels the streaming task only if it fires; the outcome is the same `SendTimeoutError`.
    """

    def __init__(
        self, stream: EventStream, *, ping_s: float, send_timeout_s: float, metrics: ApiMetrics
    ) -> None:
        super().__init__(
            stream.chunks(),
            ping=ping_s,
            sep="\n",
            send_timeout=send_timeout_s,
            ping_message_factory=_ping,
            headers={"Cache-Control": "no-store"},
            shutdown_event=_StopOnShutdown(stream),  # type: ignore[arg-type]
            shutdown_grace_period=SHUTDOWN_GRACE_S,
        )
        self._stream = stream
        self._metrics = metrics

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        timeout = self.send_timeout
        if timeout is None:
            await send(message)
            return
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            await send(message)
        except asyncio.CancelledError:
            if not expired:
                raise
            task.uncancel()  # our own cancellation, turned into the error sse-starlette expects
            raise SendTimeoutError from None
        finally:
            timer.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        label = self._stream.label
        self._metrics.sse_clients.add(1, label)
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # A client that stopped reading: the connection is dropped; it resumes with Last-Event-ID.
            self._metrics.sse_disconnects.inc("send_timeout")
            _log.info("closed an SSE stream whose client stopped reading")
        finally:
            self._metrics.sse_clients.add(-1, label)
