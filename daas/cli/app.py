"""The root Typer app and the global options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daas.cli.output import CliState
from daas.config import load_settings

app = typer.Typer(
    name="daas",
    help="DaaS: verifiable container builds requested and settled on Sui, stored on Walrus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML settings file (for example the one `daas dev` writes).",
            envvar="DAAS_CONFIG_FILE",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on stdout.")
    ] = False,
) -> None:
    ctx.obj = CliState(settings_loader=lambda **kw: load_settings(config, **kw), json=json_output)
