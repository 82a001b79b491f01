"""Engines and sessions for the two supported databases: SQLite (the default) and PostgreSQL.

``create_engine_for`` is the only place that turns a ``database_url`` setting into an engine, so every
SQLite connection gets the same pragmas and every PostgreSQL URL the same driver. Sessions come from
``session_scope``; the caller commits, repositories never do.

SQLite runs in the driver's default transaction mode: the transaction starts at the first write, so
reads before it take no lock and a writer waits (``busy_timeout``) for another rather than failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from daas.errors import ConfigError, DatabaseError

__all__ = [
    "check_connection",
    "create_engine_for",
    "describe_error",
    "describe_url",
    "session_scope",
]

SETTING = "database_url"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def create_engine_for(url: str, *, echo: bool = False) -> Engine:
    """Build an engine for a ``sqlite:///path`` or ``postgresql://`` URL.

    SQLite: creates the file's directory; every connection gets WAL, foreign keys, a busy timeout and
    ``synchronous=NORMAL`` (a power loss may drop the last commits, which the indexer replays from its
    watermark). ``sqlite://`` (in memory) shares one connection, for tests. PostgreSQL: any of
    ``postgres://``, ``postgresql://``, ``postgresql+psycopg2://`` is served by psycopg 3.
    Anything else raises ``ConfigError`` naming ``database_url``.
    """
    parsed = _parse(url)
    if parsed.drivername in _SQLITE_DRIVERS:
        return _sqlite_engine(parsed, echo=echo)
    if parsed.drivername in _POSTGRES_DRIVERS:
        return sa.create_engine(
            parsed.set(drivername="postgresql+psycopg"), echo=echo, pool_pre_ping=True
        )
    raise ConfigError(
        f"{SETTING}: unsupported database {parsed.drivername!r} in {describe_url(parsed)}; "
        "use sqlite:///path/to/daas.db or postgresql://user@host/dbname",
        setting=SETTING,
    )


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except sa_exc.ArgumentError as exc:
        # The message of ArgumentError repeats the URL, password included: do not chain its text.
        raise ConfigError(f"{SETTING}: not a database URL", setting=SETTING) from exc


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or every session would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, echo=echo, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def describe_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def check_connection(engine: Engine) -> None:
    """Connect and run ``SELECT 1``; raise ``DatabaseError`` with an actionable message if that fails."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa_exc.DBAPIError as exc:
        raise DatabaseError(
            f"cannot use the database at {describe_url(engine.url)} (setting {SETTING}): "
            f"{describe_error(exc)}"
        ) from exc


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for one unit of work; the caller commits, anything uncommitted is rolled back.

    Database errors raised inside the block leave as ``DatabaseError`` (chained to the original).
    Objects stay readable after ``commit()`` (``expire_on_commit=False``).
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    except sa_exc.DBAPIError as exc:
        session.rollback()
        raise DatabaseError(
            f"database error at {describe_url(engine.url)}: {describe_error(exc)}"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def describe_error(exc: sa_exc.DBAPIError) -> str:
    """The driver's own first line (e.g. "connection refused"), without SQLAlchemy's SQL dump."""
    text = str(exc.orig).strip() if exc.orig is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__
