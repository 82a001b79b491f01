"""Schema migrations as a Python API (``daas db upgrade`` calls ``upgrade``).

The Alembic scripts live in ``daas/db/migrations`` inside the package, so this works from an installed
wheel without an ``alembic.ini``. Services call ``ensure_current`` at start and refuse to run on a
schema other than the one they were written for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from daas.db.engine import create_engine_for, describe_error, describe_url
from daas.errors import DatabaseError, MigrationError

__all__ = ["MIGRATIONS_DIR", "current", "downgrade", "ensure_current", "head", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def upgrade(target: str | sa.Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``."""
    with _connection(target) as connection:
        command.upgrade(_config(connection), revision)


def downgrade(target: str | sa.Engine, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"`` drops every DaaS table)."""
    with _connection(target) as connection:
        command.downgrade(_config(connection), revision)


def current(target: str | sa.Engine) -> str | None:
    """The revision the database is at; None for a database without DaaS tables."""
    with _connection(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision this code knows."""
    revision = _scripts().get_current_head()
    if revision is None:  # only if the package lost its migration scripts
        raise MigrationError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return revision


def ensure_current(engine: sa.Engine) -> None:
    """Raise ``MigrationError`` unless the database is at ``head()``."""
    at, wanted = current(engine), head()
    if at == wanted:
        return
    where = describe_url(engine.url)
    if at is None:
        raise MigrationError(f"the database at {where} has no DaaS schema: run `daas db upgrade`")
    try:
        _scripts().get_revision(at)
    except CommandError:
        raise MigrationError(
            f"the database at {where} is at revision {at}, which this version of DaaS does not "
            f"know (it needs {wanted}); it was migrated by a newer release"
        ) from None
    raise MigrationError(
        f"the database at {where} is at revision {at}, this version of DaaS needs {wanted}: "
        "run `daas db upgrade`"
    )


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        # Handing over the connection avoids putting the URL (and its password) into config text.
        config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


@contextmanager
def _connection(target: str | sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that commits on success; connection failures become DatabaseError."""
    engine = create_engine_for(target) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            yield connection
    except sa_exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot migrate the database at {describe_url(engine.url)}: {describe_error(exc)}"
        ) from exc
    finally:
        if isinstance(target, str):
            engine.dispose()
