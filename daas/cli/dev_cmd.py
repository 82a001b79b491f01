"""`daas dev`: the whole pipeline offline on one machine.

The foundation provides the settings, the database and the package; the chain and Walrus stand-ins, indexer,
runner and API arrive in later work (issues 3-7). Until then `daas dev` prepares the data directory and the
database, and says plainly what is not there yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daas.cli.app import app
from daas.cli.output import state


@app.command("dev")
def dev(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="where the dev stack keeps its state")
    ] = None,
) -> None:
    """Run the whole pipeline offline: chain and Walrus stand-ins, indexer, runner and API."""
    from daas.db import migrate

    st = state(ctx)
    settings = st.settings_with(data_dir=data_dir) if data_dir is not None else st.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    migrate.upgrade(url, "head")
    missing = [
        "Sui stand-in (emulator/sui)",
        "Walrus stand-in (emulator/walrus)",
        "indexer",
        "runner",
        "API",
    ]
    report = {
        "data_dir": str(settings.data_dir),
        "database_revision": migrate.current(url),
        "ready": False,
        "not_yet_built": missing,
    }
    if st.json:
        st.emit_json(report)
    else:
        st.console.print(f"[green]✓[/] data directory {settings.data_dir}")
        st.console.print(f"[green]✓[/] database migrated to {report['database_revision']}")
        st.console.print(
            "[yellow]The offline pipeline arrives in later work; not built yet:[/] "
            + ", ".join(missing)
        )
