"""The PostgreSQL fixtures: fresh databases are empty, usable, isolated and dropped afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa

from tests.fixtures.environment import require
from tests.fixtures.postgres import (
    DATABASE_PREFIX,
    _postgres_bin_dir,
    _private_cluster,
    _probe,
    fresh_database,
    libpq_url,
    sqlalchemy_url,
    with_database,
)


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_url_helpers() -> None:
    socket_url = "postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql"
    assert libpq_url(socket_url) == "postgresql://postgres@/postgres?host=/var/run/postgresql"
    assert with_database(socket_url, "db1") == (
        "postgresql+psycopg://postgres@/db1?host=/var/run/postgresql"
    )
    assert sqlalchemy_url("postgres://u:p@127.0.0.1:5432/x") == (
        "postgresql+psycopg://u:p@127.0.0.1:5432/x"
    )


def test_fresh_database_is_empty_and_usable(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    name = _database_name(postgres_url)
    assert name.startswith(DATABASE_PREFIX)
    # Through SQLAlchemy with the psycopg driver, as the application connects.
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.scalar(sa.text("SELECT current_database()")) == name
            user_tables = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            )
            assert user_tables == 0
            conn.execute(sa.text("CREATE TABLE marker (id integer PRIMARY KEY, note text)"))
            conn.execute(sa.text("INSERT INTO marker VALUES (1, 'hello')"))
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT note FROM marker WHERE id = 1")) == "hello"
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", [1, 2])
def test_fresh_databases_are_isolated(postgres_url: str, attempt: int) -> None:
    # Both runs create the same table: the second would fail if it saw the first one's database.
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE isolation_check (attempt integer)")
        conn.execute("INSERT INTO isolation_check VALUES (%s)", (attempt,))
        assert conn.execute("SELECT count(*) FROM isolation_check").fetchone() == (1,)


def test_fresh_database_is_dropped_even_with_open_sessions(postgres_server: str) -> None:
    with fresh_database(postgres_server) as url:
        name = _database_name(url)
        assert _database_exists(postgres_server, name)
        # A connection left open on purpose: the drop WITH (FORCE) must not wait for it.
        leftover = psycopg.connect(libpq_url(url), autocommit=True)
    try:
        assert not _database_exists(postgres_server, name)
    finally:
        leftover.close()


def test_private_cluster_starts_and_stops() -> None:
    # The fallback used when no server is configured or running: it must work on a bare machine.
    bin_dir = _postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL binaries not installed under /usr/lib/postgresql")
    assert bin_dir is not None
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None, "runuser missing (util-linux)")
    temp_root = Path(tempfile.gettempdir())
    before = set(temp_root.glob("daas-pg-*"))
    with _private_cluster(bin_dir) as url:
        assert _probe(url) is None
        with fresh_database(url) as db_url, psycopg.connect(libpq_url(db_url)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        ours = set(temp_root.glob("daas-pg-*")) - before
        assert len(ours) == 1
    assert _probe(url) is not None  # the server is stopped...
    assert not any(d.exists() for d in ours)  # ...and its files are gone
