"""The `daas` command line: one Typer app, one module per command group.

Settings are built once, in the root callback, from `--config` and the environment, and handed to commands
through the Typer context. Every `DaasError` becomes a one-line message and a non-zero exit code; tracebacks
are for bugs only.
"""

from __future__ import annotations

import sys

from daas.cli.app import app
from daas.errors import ConfigError, DaasError

__all__ = ["app", "main"]


def main() -> None:
    from daas.cli import (  # noqa: F401 - registers commands
        config_cmd,
        db_cmd,
        dev_cmd,
        emulator_cmd,
        indexer_cmd,
    )
    from daas.cli.output import error_console

    try:
        app(standalone_mode=False)
    except DaasError as exc:
        error_console().print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click's own usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
