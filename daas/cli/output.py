"""Shared CLI plumbing: lazily built settings and consoles for humans (stderr) or scripts (stdout JSON)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from daas.config import Settings


def error_console() -> Console:
    return Console(stderr=True)


@dataclasses.dataclass
class CliState:
    settings_loader: Callable[..., Settings]
    json: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        # Built on first use so `daas --help` works even with a broken config.
        if self._settings is None:
            self._settings = self.settings_loader()
        return self._settings

    def settings_with(self, **overrides: object) -> Settings:
        """The settings rebuilt with command-line overrides on top of file and environment."""
        self._settings = self.settings_loader(**overrides)
        return self._settings

    @property
    def console(self) -> Console:
        return Console(stderr=self.json)

    def emit_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj
