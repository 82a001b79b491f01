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


def _funding(values: list[str]) -> list[tuple[str, int]]:
    funded = []
    for value in values:
        address, _, amount = value.partition("=")
        if not address.startswith("0x") or not amount.isdigit():
            raise typer.BadParameter(f"{value!r}: expected ADDRESS=MIST, e.g. 0xabc=1000000000")
        funded.append((address, int(amount)))
    return funded


@emulator_app.command("sui")
def sui(
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 9000,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    state_file: Annotated[
        Path | None, typer.Option(help="keep the chain here across restarts (default: memory)")
    ] = None,
    fund: Annotated[
        list[str] | None, typer.Option(help="ADDRESS=MIST to fund at genesis; repeatable")
    ] = None,
    admin_address: Annotated[
        str | None, typer.Option(help="publisher/admin (default: a dev key written next to state)")
    ] = None,
    seed: Annotated[str | None, typer.Option(help="genesis seed (chain id, ids)")] = None,
    checkpoint_ms: Annotated[int, typer.Option(help="checkpoint interval")] = 250,
    nitro_root: Annotated[
        Path | None,
        typer.Option(help="root certificate (PEM or DER) for attestations; default the AWS root"),
    ] = None,
) -> None:
    """Serve a Sui fullnode stand-in (gRPC sui.rpc.v2) with the daas package published."""
    from emulator.sui.standin import run

    root_der = None
    if nitro_root is not None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        raw = nitro_root.read_bytes()
        cert = (
            x509.load_pem_x509_certificate(raw)
            if raw.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(raw)
        )
        root_der = cert.public_bytes(Encoding.DER)
    run(
        port,
        state_file,
        host=host,
        funded=_funding(fund or []),
        admin_address=admin_address,
        seed=seed,
        checkpoint_interval_s=checkpoint_ms / 1000,
        nitro_root_der=root_der,
        on_ready=_first_line,
    )
