"""The `daas` command line: one Typer app, one module per command group.

Settings are built once, in the root callback, from `--config` and the environment, and handed to commands
through the Typer context. Every `DaasError` becomes a one-line message and a non-zero exit code; tracebacks
are for bugs only.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from daas.cli.app import app
from daas.errors import ConfigError, DaasError

__all__ = ["app", "main"]


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _fail(error: BaseException) -> NoReturn:
    from daas.cli.output import error_console

    error_console().print(f"[bold red]error:[/] {error}", highlight=False)
    sys.exit(2 if isinstance(error, ConfigError) else 1)


def main() -> None:
    from daas.cli import (  # noqa: F401 - registers commands
        api_cmd,
        config_cmd,
        db_cmd,
        dev_cmd,
        emulator_cmd,
        enclave_cmd,
        indexer_cmd,
        keys_cmd,
        publish_cmd,
        pull_cmd,
        runner_cmd,
        submit_cmd,
        up_cmd,
        verify_cmd,
        watch_cmd,
    )

    try:
        # With standalone_mode=False a command's exit code is returned, not raised.
        code = app(standalone_mode=False)
    except DaasError as exc:
        _fail(exc)
    except BaseExceptionGroup as group:
        # Task groups wrap what a service raised; a DaasError inside is still a one-line error.
        matched, _rest = group.split(DaasError)
        if matched is None:
            raise
        _fail(_first_leaf(matched))
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:
        # Usage errors: typer carries its own copy of click's exception classes.
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
