"""Alembic environment for the DaaS schema, driven by ``daas.db.migrate`` (no alembic.ini needed).

``migrate`` passes an open connection in ``config.attributes["connection"]``; a plain ``alembic`` run
with ``sqlalchemy.url`` set in its config works too. SQLite gets batch mode (it cannot ALTER most
things in place).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from daas.db.engine import create_engine_for
from daas.db.models import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine_for(url)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
