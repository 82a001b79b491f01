"""Wake-ups when builds change, so a waiting task reacts at once instead of at its next poll.

A writer (the indexer after a batch, the runner after a step) announces a change; a reader (the runner
looking for new requests, the API's SSE feeds) waits for one. Three transports behind one `Listener`
Protocol:

- `Wakeup`: in-process. The writer calls `fire()` after its commit; every listener made by `listener()`
  sees each fire that happened since its own last `wait`, so a fire between a reader's query and its
  wait is never lost.
- PostgreSQL `LISTEN/NOTIFY`: `publish(session)` inside the writer's transaction sends a `NOTIFY` that the
  server delivers only if and when that transaction commits; `PostgresListener` receives it.
- SQLite has no notifications: `PollingListener` polls the highest `build_events` id (every build change
  writes an event) at a short interval.

A wake-up is a hint, never the data: after `wait` returns, the reader queries the database as usual, and a
spurious wake-up costs one query. `open_listener` picks the right transport for an engine.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from daas.db.engine import describe_url
from daas.db.models import BuildEvent
from daas.errors import DatabaseError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CHANNEL",
    "Listener",
    "PollingListener",
    "PostgresListener",
    "Wakeup",
    "WakeupListener",
    "open_listener",
    "publish",
]

CHANNEL = "daas_builds"
DEFAULT_POLL_INTERVAL_S = 0.2


class Listener(Protocol):
    """Waits for "builds changed" announcements."""

    async def wait(self, seconds: float) -> bool:
        """True once a change was announced since the previous `wait` (or since creation); False after
        `seconds` without one."""
        ...

    async def aclose(self) -> None: ...


def publish(session: Session, *, payload: str = "") -> None:
    """Announce a change from inside the caller's transaction (delivered at its commit, if it commits).

    PostgreSQL only; on SQLite this does nothing and listeners poll instead.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


# --- in-process ---------------------------------------------------------------------------------------


class Wakeup:
    """An in-process change counter with waiters; `fire()` from the event loop's thread."""

    def __init__(self) -> None:
        self._generation = 0
        self._event = asyncio.Event()

    @property
    def generation(self) -> int:
        return self._generation

    def fire(self) -> None:
        self._generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_past(self, generation: int, seconds: float) -> bool:
        """True as soon as `generation` is exceeded; False after `seconds`."""
        if self._generation > generation:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return self._generation > generation
        return True

    def listener(self) -> WakeupListener:
        return WakeupListener(self)


class WakeupListener:
    """One reader's view of a `Wakeup`: remembers which fires it has seen."""

    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup
        self._seen = wakeup.generation

    async def wait(self, seconds: float) -> bool:
        woken = await self._wakeup.wait_past(self._seen, seconds)
        self._seen = self._wakeup.generation
        return woken

    async def aclose(self) -> None:
        return None


# --- PostgreSQL ---------------------------------------------------------------------------------------


class PostgresListener:
    """`LISTEN daas_builds` on a dedicated connection. Use `await PostgresListener.connect(engine)`."""

    def __init__(self, connection: psycopg.AsyncConnection[object]) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, engine: sa.Engine) -> PostgresListener:
        import psycopg  # only PostgreSQL deployments need the driver here

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
            await connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot listen for notifications on {describe_url(engine.url)}: {exc}"
            ) from exc
        return cls(connection)

    async def wait(self, seconds: float) -> bool:
        import psycopg

        woken = False
        try:
            async for _ in self._connection.notifies(timeout=seconds, stop_after=1):
                woken = True
            if woken:
                # Several commits may have announced themselves; one wake-up covers them all.
                async for _ in self._connection.notifies(timeout=0):
                    pass
        except psycopg.Error as exc:
            raise DatabaseError(f"lost the notification connection: {exc}") from exc
        return woken

    async def aclose(self) -> None:
        await self._connection.close()


# --- SQLite (and any database): polling ---------------------------------------------------------------


class PollingListener:
    """Polls the newest `build_events` id; a higher one means something changed."""

    def __init__(self, engine: sa.Engine, *, interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._last: int | None = None

    def _newest(self) -> int:
        table = BuildEvent.__table__  # type: ignore[attr-defined]
        with self._engine.connect() as connection:
            value = connection.execute(sa.select(sa.func.max(table.c.id))).scalar()
        return int(value or 0)

    async def wait(self, seconds: float) -> bool:
        if self._last is None:
            self._last = await asyncio.to_thread(self._newest)
        deadline = time.monotonic() + seconds
        while True:
            newest = await asyncio.to_thread(self._newest)
            if newest > self._last:
                self._last = newest
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(self._interval_s, remaining))

    async def prime(self) -> None:
        """Take the current state as seen, so the first `wait` reports only later changes."""
        self._last = await asyncio.to_thread(self._newest)

    async def aclose(self) -> None:
        return None


async def open_listener(
    engine: sa.Engine, *, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
) -> Listener:
    """A cross-process listener for `engine`: LISTEN/NOTIFY on PostgreSQL, polling elsewhere."""
    if engine.dialect.name == "postgresql":
        return await PostgresListener.connect(engine)
    listener = PollingListener(engine, interval_s=poll_interval_s)
    await listener.prime()
    return listener
