"""`daas db ...`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from daas.cli.app import app
from daas.cli.output import state
from daas.config import redact_url

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from daas.db import migrate

    st = state(ctx)
    url = st.settings.effective_database_url
    migrate.upgrade(url, revision)
    now = migrate.current(url)
    if st.json:
        st.emit_json({"database_url": redact_url(url), "revision": now})
    else:
        st.console.print(f"database {redact_url(url)} is at revision [bold]{now}[/]")


@db_app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Revert migrations down to REVISION (`base` empties the schema)."""
    from daas.db import migrate

    st = state(ctx)
    url = st.settings.effective_database_url
    migrate.downgrade(url, revision)
    now = migrate.current(url)
    if st.json:
        st.emit_json({"database_url": redact_url(url), "revision": now})
    else:
        st.console.print(f"database {redact_url(url)} is at revision [bold]{now or 'base'}[/]")


@db_app.command("current")
def current(ctx: typer.Context) -> None:
    """Show the schema revision of the configured database."""
    from daas.db import migrate

    st = state(ctx)
    url = st.settings.effective_database_url
    now = migrate.current(url)
    head = migrate.head()
    if st.json:
        st.emit_json({"database_url": redact_url(url), "revision": now, "head": head})
    else:
        behind = "" if now == head else f" (newest is {head}: run `daas db upgrade`)"
        st.console.print(f"database {redact_url(url)} is at revision {now or 'base'}{behind}")
