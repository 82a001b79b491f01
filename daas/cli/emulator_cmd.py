"""`daas emulator ...`: run one offline stand-in on its own (for a second terminal, or a CI job).

The stand-ins live in `emulator/` and speak the real protocols; see `docs/emulator.md` for what they cover.
Each prints one JSON line first (its URL and identifiers), so scripts can read where it listens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from daas.cli.app import app

emulator_app = typer.Typer(help="Offline stand-ins for Sui and Walrus.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")


def _first_line(data: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    sys.stdout.flush()


@emulator_app.command("walrus")
def walrus(
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 31415,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    storage_dir: Annotated[
        Path | None, typer.Option(help="keep blobs here across restarts (default: memory)")
    ] = None,
    max_body_mib: Annotated[int, typer.Option(help="publisher request cap in MiB")] = 10,
) -> None:
    """Serve a Walrus publisher + aggregator stand-in until interrupted."""
    from emulator.walrus.server import run

    run(
        host,
        port,
        storage_dir,
        max_body_bytes=max_body_mib * 1024 * 1024,
        on_ready=lambda r: _first_line({"walrus_url": r.url, "port": r.port}),
        log_level="warning",
    )
