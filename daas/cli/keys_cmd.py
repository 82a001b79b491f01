"""`daas keys ...`: the user's Sui key, the one that signs `request_build` and pays its fee.

`daas keys new` writes a new Ed25519 key to a Sui CLI keystore file (a JSON list of base64 entries, mode 0600,
the format `sui keytool` reads), by default `keys.sui_keystore`, so `daas submit` uses it at once. An existing
keystore is never overwritten: `--append` adds the key to it (then set `keys.sui_address` to pick it). The secret
is shown only with `--show-secret`. `daas keys show` prints the address of the configured key (`keys.*`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from daas.cli.app import app
from daas.cli.common import connect_chain, exit_on_errors, human_console
from daas.cli.output import state
from daas.errors import ConfigError, KeyError_

keys_app = typer.Typer(
    help="Your Sui key (it signs build requests and pays their fees).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def new(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="keystore file to write (default: keys.sui_keystore)"),
    ] = None,
    append: Annotated[
        bool, typer.Option("--append", help="add the key to an existing keystore file")
    ] = False,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="also print the key as a suiprivkey1... string")
    ] = False,
) -> None:
    """Make a new Ed25519 key in a Sui keystore file (mode 0600) and print its address."""
    from daas.chain.keys import SuiSigner, read_private_file, write_keystore

    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        path = (output or st.settings.keys.sui_keystore).expanduser()
        signer = SuiSigner.generate()
        if path.exists():
            if not append:
                raise ConfigError(
                    f"{path} exists: pass --append to add the key to it, or --output another file"
                )
            try:
                entries = json.loads(read_private_file(path))
            except ValueError as exc:
                raise KeyError_(f"keystore {path} is not JSON") from exc
            if not isinstance(entries, list):
                raise KeyError_(f"keystore {path} is not a JSON list")
            # Entries of other schemes (secp256k1...) are kept as they are, so they are re-read raw.
            write_keystore_raw(path, [*entries, signer.keystore_entry()])
        else:
            write_keystore(path, [signer])
    data = {"address": signer.address, "keystore": str(path)}
    if show_secret:
        data["private_key"] = signer.to_bech32()
    if st.json:
        st.emit_json(data)
        return
    console.print(f"[green]✓[/] new key [bold]{signer.address}[/] in {path}", highlight=False)
    if show_secret:
        console.print(f"  private key: {data['private_key']}", highlight=False)
    if output is not None or append:
        console.print(
            f"  use it: keys.sui_keystore = {str(path)!r}"
            + (f", keys.sui_address = {signer.address!r}" if append else ""),
            highlight=False,
        )
    console.print("  fund the address before `daas submit` (fee + gas)", highlight=False)


def write_keystore_raw(path: Path, entries: list[object]) -> None:
    from daas.chain.keys import write_private_file

    write_private_file(path, json.dumps(entries, indent=2))


@keys_app.command("show")
def show(
    ctx: typer.Context,
    balance: Annotated[
        bool, typer.Option("--balance", help="also ask the node for the address's SUI balance")
    ] = False,
) -> None:
    """Print the address of the configured key (keys.sui_private_key, else keys.sui_keystore)."""
    import anyio

    from daas.chain.keys import load_signer

    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        settings = st.settings
        signer = load_signer(settings.keys)
        source = (
            "keys.sui_private_key"
            if settings.keys.sui_private_key is not None
            else str(settings.keys.sui_keystore.expanduser())
        )
        mist: int | None = None
        if balance:

            async def read_balance() -> int:
                async with connect_chain(settings) as chain:
                    return await chain.get_balance(signer.address)

            mist = anyio.run(read_balance)
    if st.json:
        data: dict[str, object] = {"address": signer.address, "source": source}
        if mist is not None:
            data["balance_mist"] = mist
        st.emit_json(data)
        return
    console.print(f"address [bold]{signer.address}[/] (from {source})", highlight=False)
    if mist is not None:
        console.print(f"balance {mist} MIST ({mist / 1e9:.4f} SUI)", highlight=False)
