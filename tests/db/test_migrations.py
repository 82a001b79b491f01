"""Alembic migrations: up, down and up again; the migrated schema equals the models; revision checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import setuptools
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import daas
from daas.db import migrate
from daas.db.engine import create_engine_for
from daas.db.models import metadata
from daas.errors import DatabaseError, MigrationError

DAAS_TABLES = {
    "builds",
    "build_events",
    "build_log_lines",
    "watermarks",
    "enclaves",
    "runner_heartbeats",
    "rejected_events",
    "layer_blobs",
    "build_artifacts",
    "indexed_chains",
}
HEAD = "0003"


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _schema_diff(engine: sa.Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))


@pytest.fixture
def bare_engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the empty database, not migrated."""
    engine = create_engine_for(db_url)
    yield engine
    engine.dispose()


def test_head_is_the_newest_revision() -> None:
    assert migrate.head() == HEAD


def test_migration_scripts_ship_with_the_package() -> None:
    """setuptools only installs the .py files of directories it finds as packages."""
    project_root = Path(daas.__file__).resolve().parents[1]
    packages = setuptools.find_packages(str(project_root), include=["daas*"])
    assert {"daas.db.migrations", "daas.db.migrations.versions"} <= set(packages)
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()  # listed as package data


def test_up_down_up(bare_engine: sa.Engine) -> None:
    assert migrate.current(bare_engine) is None
    assert _tables(bare_engine) == set()

    migrate.upgrade(bare_engine)
    assert migrate.current(bare_engine) == HEAD
    assert _tables(bare_engine) == DAAS_TABLES | {"alembic_version"}

    migrate.downgrade(bare_engine, "base")
    assert migrate.current(bare_engine) is None
    assert _tables(bare_engine) <= {"alembic_version"}

    migrate.upgrade(bare_engine)
    assert migrate.current(bare_engine) == HEAD
    assert _schema_diff(bare_engine, metadata) == []


def test_upgrade_accepts_a_url_and_is_idempotent(db_url: str, bare_engine: sa.Engine) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == HEAD
    assert _tables(bare_engine) >= DAAS_TABLES


def test_migrated_schema_equals_the_models(engine: sa.Engine) -> None:
    assert _schema_diff(engine, metadata) == []


def test_schema_comparison_notices_a_difference(engine: sa.Engine) -> None:
    """Guards the test above: a comparison that sees nothing would pass it vacuously."""
    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["builds"].append_column(sa.Column("extra", sa.Integer()))
    changed.tables["watermarks"].c.pipeline.type = sa.String(65)
    sa.Index("ix_extra", changed.tables["enclaves"].c.owner)

    diffs = _schema_diff(engine, changed)
    kinds = {diff[0][0] if isinstance(diff, list) else diff[0] for diff in diffs}
    assert {"add_column", "modify_type", "add_index"} <= kinds


def test_ensure_current_accepts_head(engine: sa.Engine) -> None:
    migrate.ensure_current(engine)


def test_ensure_current_refuses_an_empty_database(bare_engine: sa.Engine) -> None:
    with pytest.raises(MigrationError, match="run `daas db upgrade`"):
        migrate.ensure_current(bare_engine)


def test_ensure_current_refuses_a_revision_from_a_newer_release(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(MigrationError, match=r"ffff.*newer release"):
        migrate.ensure_current(engine)


def test_migrating_an_unreachable_database_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match="cannot migrate"):
        migrate.upgrade("postgresql://daas:s3cret@127.0.0.1:1/daas?connect_timeout=2")
