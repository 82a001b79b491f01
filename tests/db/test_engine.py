"""Engine factory, connection checks and the session scope."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from daas.db.engine import check_connection, create_engine_for, session_scope
from daas.db.models import EventKind
from daas.db.repos import builds, events
from daas.errors import ConfigError, DatabaseError
from tests.db.helpers import make_build, object_id


def _pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_file_gets_its_directory_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "daas.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        check_connection(engine)
        assert path.parent.is_dir()
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "busy_timeout") == 30_000
        assert _pragma(engine, "synchronous") == 1  # NORMAL
    finally:
        engine.dispose()


def test_sqlite_in_memory_is_one_database_for_every_session() -> None:
    engine = create_engine_for("sqlite://")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (7)")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT x FROM t").scalar() == 7
        assert _pragma(engine, "foreign_keys") == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db.example:5432/daas",
        "postgres://u:pw@db.example:5432/daas",
        "postgresql+psycopg://u:pw@db.example:5432/daas",
        "postgresql+psycopg2://u:pw@db.example:5432/daas",
    ],
)
def test_postgres_urls_use_psycopg3_with_pre_ping(url: str) -> None:
    engine = create_engine_for(url)  # no connection is made here
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.host == "db.example"
        assert engine.url.database == "daas"
        assert engine.pool._pre_ping is True
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url", ["mysql://root:s3cret@localhost/daas", "postgresql+asyncpg://u:s3cret@h/d", "nonsense"]
)
def test_unsupported_urls_are_config_errors_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_engine_for(url)
    assert caught.value.setting == "database_url"
    assert "database_url" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_check_connection_maps_an_unreachable_server_to_database_error() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    engine = create_engine_for("postgresql://daas:s3cret@127.0.0.1:1/daas?connect_timeout=2")
    try:
        with pytest.raises(DatabaseError) as caught:
            check_connection(engine)
    finally:
        engine.dispose()
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "database_url" in message
    assert "s3cret" not in message
    assert isinstance(caught.value.__cause__, sa.exc.OperationalError)


def test_check_connection_maps_an_unopenable_sqlite_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    engine = sa.create_engine(f"sqlite:///{blocker / 'daas.db'}")  # bypass mkdir on purpose
    try:
        with pytest.raises(DatabaseError, match="cannot use the database"):
            check_connection(engine)
    finally:
        engine.dispose()


def test_check_connection_passes_on_a_live_database(engine: sa.Engine) -> None:
    check_connection(engine)


def test_session_scope_does_not_commit(engine: sa.Engine, session: Session) -> None:
    with session_scope(engine) as scoped:
        assert builds.upsert_requested(scoped, make_build(1))
    assert builds.get(session, object_id(1)) is None


def test_session_scope_leaves_committed_work(engine: sa.Engine, session: Session) -> None:
    with session_scope(engine) as scoped:
        builds.upsert_requested(scoped, make_build(1))
        scoped.commit()
    found = builds.get(session, object_id(1))
    assert found is not None
    assert found.request_id == object_id(1)


def test_session_scope_maps_a_refused_statement_and_rolls_back(
    engine: sa.Engine, session: Session
) -> None:
    with pytest.raises(DatabaseError) as caught, session_scope(engine) as scoped:
        builds.upsert_requested(scoped, make_build(1))
        # The foreign key must be enforced on SQLite too (PRAGMA foreign_keys=ON).
        events.append(scoped, object_id(999), EventKind.STATUS, {"status": "pending"})
        scoped.commit()
    assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
    assert builds.get(session, object_id(1)) is None


def test_session_scope_rolls_back_on_other_errors(engine: sa.Engine, session: Session) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as scoped:
        builds.upsert_requested(scoped, make_build(1))
        scoped.flush()
        raise RuntimeError("boom")
    assert builds.get(session, object_id(1)) is None
