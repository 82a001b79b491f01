"""`daas config ...`: inspect the effective settings."""

from __future__ import annotations

import typer
from rich.pretty import Pretty

from daas.cli.app import app
from daas.cli.output import state

config_app = typer.Typer(help="Inspect settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective settings (file, environment, defaults) with secrets redacted."""
    st = state(ctx)
    data = st.settings.redacted()
    if st.json:
        st.emit_json(data)
    else:
        st.console.print(Pretty(data, expand_all=True))
