"""The process-wide tail of `build_events`, fanned out to every SSE client of this process.

One `EventFeed` per app reads the table: it waits for a wake-up (`daas.db.notify`: the in-process `Wakeup`
when the writer shares the process, LISTEN/NOTIFY on PostgreSQL, polling on SQLite; plus a slow fallback
poll), then reads every event after the highest id it has dispatched, encodes each one once as SSE bytes and
pushes it to the subscribers that want it. N clients therefore cost one query per wake-up, not N polls.

Why a tail by id is complete: event ids become visible in increasing order (SQLite has one writer; on
PostgreSQL `repos.events` serialises writers with an advisory lock held to the commit), so once this process
has read id N, no id below N can appear later. A subscription records the tail when it is made and receives
every event dispatched after that; `api.sse` reads anything older from the database and drops duplicates
by id, so a client sees each event exactly once.

With many subscribers the tail is read at most once per estimated fan-out time (`FANOUT_COST_PER_CLIENT_S`
per subscriber, at most `MAX_PACING_S`): events committed meanwhile leave together, one socket write per
client instead of one per event, which is what keeps 1,500 clients at 20 events/s on one core.

Each subscription holds at most `capacity` undelivered events. A client that falls that far behind is marked
overflowed and its stream ends; it resumes from its Last-Event-ID, which is served from the database.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc
import sqlalchemy as sa

from api.metrics import ApiMetrics
from daas.db import notify
from daas.db.engine import session_scope
from daas.db.models import BuildEvent, BuildStatus, EventKind
from daas.db.repos import events
from daas.errors import DaasError, DatabaseError

__all__ = ["EventFeed", "FeedEvent", "Overflowed", "Subscription", "encode_event", "is_final"]

_log = logging.getLogger(__name__)

PAGE = 500
# Without any wake-up, the tail is read this often anyway: a writer that forgot to notify is late, not lost.
FALLBACK_POLL_S = 2.0
# Pacing: one fan-out costs about this much per subscriber (a task wake-up and a socket write), so with
# many subscribers the tail is read at most once per fan-out time (capped): events that arrive meanwhile
# go out together, one write per client instead of one per event. Idle, a wake-up is read at once.
FANOUT_COST_PER_CLIENT_S = 40e-6
MAX_PACING_S = 0.1
LISTENER_WAIT_S = 30.0
RETRY_S = 1.0


class Overflowed(Exception):
    """The subscriber fell more than `capacity` events behind; its stream must end."""


@dataclasses.dataclass(frozen=True, slots=True)
class FeedEvent:
    """A build event ready to send: `frame` is the complete SSE message, shared by every client."""

    id: int
    build_id: str
    final: bool
    created_at_ms: int
    frame: bytes


_FINAL_STATUSES = {status.value for status in BuildStatus if status.is_final}


_SETTLING_KINDS = {EventKind.STATUS.value, EventKind.RESULT.value}


def is_final(kind: str, payload: dict[str, Any]) -> bool:
    """True for a build's last event: the indexer's record of a final on-chain status (a `result` event
    for a succeeded or failed build, a `status` event for a cancelled one), marked `"final": true`."""
    if payload.get("final") is True:
        return True
    return kind in _SETTLING_KINDS and payload.get("status") in _FINAL_STATUSES


def encode_event(event: BuildEvent) -> FeedEvent:
    """The SSE message of one event: `id:` the global id, `event:` its kind, `data:` JSON on one line."""
    assert event.id is not None
    kind = str(event.kind.value if isinstance(event.kind, EventKind) else event.kind)
    final = is_final(kind, event.payload)
    data = {
        "id": event.id,
        "build_id": event.build_id,
        "kind": kind,
        "created_at_ms": event.created_at_ms,
        "final": final,
        "payload": event.payload,
    }
    # json.dumps escapes newlines inside strings, so the data always fits one `data:` line.
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    frame = f"id: {event.id}\nevent: {kind}\ndata: {text}\n\n".encode()
    return FeedEvent(event.id, event.build_id, final, event.created_at_ms, frame)


class Subscription:
    """One client's share of the feed: events after `start_id`, for one build or for all."""

    __slots__ = ("_capacity", "_items", "_wake", "build_id", "closed", "overflowed", "start_id")

    def __init__(self, build_id: str | None, start_id: int, capacity: int) -> None:
        self.build_id = build_id
        self.start_id = start_id
        self.overflowed = False
        self.closed = False
        self._capacity = capacity
        self._items: collections.deque[FeedEvent] = collections.deque()
        self._wake = asyncio.Event()

    def push(self, event: FeedEvent) -> None:
        if self.overflowed:
            return
        if len(self._items) >= self._capacity:
            self.overflowed = True
            self._items.clear()
        else:
            self._items.append(event)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_batch(self) -> list[FeedEvent]:
        """Every event pushed since the last call (waits for one); `[]` once closed.

        Raises `Overflowed` when the subscriber fell too far behind.
        """
        while not self._items:
            if self.overflowed:
                raise Overflowed
            if self.closed:
                return []
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed:
            raise Overflowed
        batch = list(self._items)
        self._items.clear()
        return batch


class EventFeed:
    """Reads new build events once per wake-up and pushes them to subscriptions.

    `start` takes the current newest id as the tail (the lifespan calls it; `run` retries it while the
    database is down, and `subscribe` raises `DatabaseError` until then). `notifier` is an in-process
    `Wakeup` shared with writers in this process; `cross_process` adds the database's own listener
    (LISTEN/NOTIFY or polling) for writers elsewhere.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        capacity: int,
        metrics: ApiMetrics,
        notifier: notify.Wakeup | None = None,
        cross_process: bool = True,
        poll_interval_s: float = notify.DEFAULT_POLL_INTERVAL_S,
        fallback_poll_s: float = FALLBACK_POLL_S,
    ) -> None:
        self._engine = engine
        self._capacity = capacity
        self._metrics = metrics
        self._notifier = notifier
        self._cross_process = cross_process
        self._poll_interval_s = poll_interval_s
        self._fallback_poll_s = fallback_poll_s
        self._global: set[Subscription] = set()
        self._by_build: dict[str, set[Subscription]] = {}
        self._count = 0
        self._last_dispatch = 0.0
        self._dirty = asyncio.Event()
        self.tail: int | None = None
        self.healthy = True

    # --- subscriptions ---------------------------------------------------------------------------------

    def subscribe(self, build_id: str | None) -> Subscription:
        """Receive every event dispatched from now on (ids above `subscription.start_id`)."""
        if self.tail is None:
            raise DatabaseError("live events are unavailable: the database could not be read yet")
        sub = Subscription(build_id, self.tail, self._capacity)
        if build_id is None:
            self._global.add(sub)
        else:
            self._by_build.setdefault(build_id, set()).add(sub)
        self._count += 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.build_id is None:
            subs: set[Subscription] | None = self._global
        else:
            subs = self._by_build.get(sub.build_id)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        self._count -= 1
        if not subs and sub.build_id is not None:
            del self._by_build[sub.build_id]

    @property
    def subscribers(self) -> int:
        return self._count

    def wake(self) -> None:
        """Read the table now (for writers in this process that hold no `Wakeup`)."""
        self._dirty.set()

    # --- the tail --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the current highest event id as the tail: only later events are pushed."""
        self.tail = await anyio.to_thread.run_sync(self._last_id)
        self._metrics.feed_tail_id.set(self.tail)

    async def run(self) -> None:
        """Follow the table until cancelled; `start` first, or this retries it until the database answers."""
        while self.tail is None:
            try:
                await self.start()
            except DaasError as exc:
                self.healthy = False
                _log.warning(
                    "cannot read the newest event id (retrying in %.0f s): %s", RETRY_S, exc
                )
                await anyio.sleep(RETRY_S)
        self.healthy = True
        async with anyio.create_task_group() as tg:
            if self._notifier is not None:
                tg.start_soon(self._follow_wakeup, self._notifier, name="feed-wakeup")
            if self._cross_process:
                tg.start_soon(self._follow_database, name="feed-listener")
            try:
                await self._tail_loop()
            finally:
                tg.cancel_scope.cancel()
                for sub in [*self._global, *(s for subs in self._by_build.values() for s in subs)]:
                    sub.close()

    async def _tail_loop(self) -> None:
        while True:
            with anyio.move_on_after(self._fallback_poll_s):
                await self._dirty.wait()
            pacing = min(MAX_PACING_S, self._count * FANOUT_COST_PER_CLIENT_S)
            wait = self._last_dispatch + pacing - time.monotonic()
            if wait > 0:
                await anyio.sleep(wait)
            self._dirty.clear()
            try:
                await self._read_new()
            except (DaasError, sa.exc.SQLAlchemyError) as exc:
                self.healthy = False
                self._metrics.feed_errors.inc()
                _log.warning(
                    "reading new build events failed (retrying in %.0f s): %s", RETRY_S, exc
                )
                await anyio.sleep(RETRY_S)
                self._dirty.set()
            else:
                self.healthy = True

    async def _read_new(self) -> None:
        while True:
            assert self.tail is not None
            rows = await anyio.to_thread.run_sync(self._read_after, self.tail)
            if rows:
                self._dispatch([encode_event(row) for row in rows])
            if len(rows) < PAGE:
                return

    def _dispatch(self, batch: Sequence[FeedEvent]) -> None:
        # No await in here: a subscription made between two reads sees every event after its start_id.
        now_ms = time.time_ns() // 1_000_000
        pushed = 0
        for event in batch:
            self.tail = event.id
            for sub in self._global:
                sub.push(event)
            subs = self._by_build.get(event.build_id, ())
            for sub in subs:
                sub.push(event)
            pushed += len(self._global) + len(subs)
            self._metrics.feed_delay.observe(max(0, now_ms - event.created_at_ms) / 1000)
        self._metrics.feed_tail_id.set(batch[-1].id)
        self._metrics.sse_events_sent.inc("live", amount=pushed)
        self._last_dispatch = time.monotonic()

    async def _follow_wakeup(self, wakeup: notify.Wakeup) -> None:
        listener = wakeup.listener()
        while True:
            if await listener.wait(LISTENER_WAIT_S):
                self._dirty.set()

    async def _follow_database(self) -> None:
        while True:
            try:
                listener = await notify.open_listener(
                    self._engine, poll_interval_s=self._poll_interval_s
                )
            except (DaasError, sa.exc.SQLAlchemyError) as exc:
                _log.warning("cannot listen for new events (retrying in %.0f s): %s", RETRY_S, exc)
                await anyio.sleep(RETRY_S)
                continue
            try:
                self._dirty.set()  # anything committed while we were not listening
                while True:
                    if await listener.wait(LISTENER_WAIT_S):
                        self._dirty.set()
            except (DaasError, sa.exc.SQLAlchemyError) as exc:
                _log.warning("lost the event listener (reconnecting): %s", exc)
                await anyio.sleep(RETRY_S)
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.aclose()

    # --- database (worker threads) ---------------------------------------------------------------------

    def _last_id(self) -> int:
        with session_scope(self._engine) as session:
            return events.last_id(session)

    def _read_after(self, after_id: int) -> list[BuildEvent]:
        with session_scope(self._engine) as session:
            return events.list_after(session, after_id=after_id, limit=PAGE)
