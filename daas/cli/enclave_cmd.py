"""`daas enclave register-debug`: put the local attestor's key on chain as a debug enclave (development).

The runner's local attestor (`daas.attestation.attestor.LocalKeyAttestor`, the 0600 PEM file
`keys.enclave_key_file`, created if missing) signs results with a key nothing attests, so only the admin can
register it, and only while the registry's `allow_debug` is on: never on a production network. The registration
is `daas.attestation.registration.ensure_debug_enclave`, the same the runner's `--register-debug-enclave` uses:
an enclave already recorded for this key, chain and package (`<key file>.enclave.json`) and still usable is
reused rather than registered again. `--allow-debug` first switches `allow_debug` on (refused on testnet and
mainnet). The keys (`keys.*`) must be the admin's: the owner of the `AdminCap`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from daas.cli.app import app
from daas.cli.common import connect_chain, exit_on_errors, human_console
from daas.cli.output import state
from daas.config import Network, Settings
from daas.errors import ConfigError

enclave_app = typer.Typer(help="Enclaves that sign build results.", no_args_is_help=True)
app.add_typer(enclave_app, name="enclave")


async def _register(settings: Settings, admin_cap: str, allow_debug: bool) -> dict[str, object]:
    from daas.attestation.attestor import LocalKeyAttestor
    from daas.attestation.registration import EnclaveRecord, ensure_debug_enclave, record_path_for
    from daas.chain.bcs import normalize_address
    from daas.chain.codecs import RegistryObject
    from daas.chain.keys import load_signer
    from daas.chain.transactions import DaasPackage, TransactionSubmitter

    package = DaasPackage.from_settings(settings.chain)
    signer = load_signer(settings.keys)
    attestor = LocalKeyAttestor.load_or_create(settings.enclave_key_file)
    cap_id = normalize_address(admin_cap)
    async with connect_chain(settings) as chain:
        cap = await chain.get_object(cap_id)
        if not (cap.object_type or "").endswith("::builds::AdminCap"):
            raise ConfigError(f"{cap_id} is not the AdminCap (it is a {cap.object_type})")
        if cap.owner_address != signer.address:
            raise ConfigError(
                f"the AdminCap {cap_id} belongs to {cap.owner_address}, but the configured key "
                f"(keys.*) is {signer.address}: register with the admin's key",
                setting="keys",
            )
        admin = TransactionSubmitter(chain, signer, gas_budget=settings.chain.gas_budget)
        switched = False
        info = await chain.get_object(package.registry_id)
        if info.contents is None:
            raise ConfigError(f"the registry {package.registry_id} has no contents")
        if not RegistryObject.from_bcs(info.contents).allow_debug:
            if not allow_debug:
                raise ConfigError(
                    f"the registry {package.registry_id} does not allow debug enclaves: pass "
                    "--allow-debug to switch it on first (localnet and devnet only)",
                    setting="chain.registry_id",
                )
            if settings.network in (Network.TESTNET, Network.MAINNET):
                raise ConfigError(
                    f"--allow-debug is refused on {settings.network.value}: debug enclaves "
                    "prove nothing about the code they run",
                    setting="network",
                )
            await admin.submit(package.set_allow_debug(cap_id, True))
            switched = True
        before = EnclaveRecord.load(record_path_for(settings.enclave_key_file))
        record = await ensure_debug_enclave(
            chain,
            admin,
            package,
            admin_cap_id=cap_id,
            attestor=attestor,
            chain_id=chain.chain_id or "",
            record_path=record_path_for(settings.enclave_key_file),
        )
    return {
        "enclave_id": record.enclave_id,
        "public_key": record.public_key,
        "tx_digest": record.tx_digest,
        "key_file": str(settings.enclave_key_file),
        "record": str(record_path_for(settings.enclave_key_file)),
        "allow_debug_switched_on": switched,
        "newly_registered": record != before,
        "explorer_url": settings.explorer_object_url(record.enclave_id),
    }


@enclave_app.command("register-debug")
def register_debug(
    ctx: typer.Context,
    admin_cap: Annotated[
        str,
        typer.Option(
            "--admin-cap",
            help="the AdminCap object id (printed by `daas emulator sui` and `daas publish`)",
            envvar="DAAS_ADMIN_CAP_ID",
        ),
    ],
    allow_debug: Annotated[
        bool,
        typer.Option(
            "--allow-debug",
            help="first switch the registry's allow_debug on (localnet and devnet only)",
        ),
    ] = False,
) -> None:
    """Register the local attestor key (keys.enclave_key_file) as a debug enclave; needs the admin key."""
    import anyio

    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        settings = st.settings
        result = anyio.run(_register, settings, admin_cap, allow_debug)
    if st.json:
        st.emit_json(result)
        return
    if result["allow_debug_switched_on"]:
        console.print("[green]✓[/] switched the registry's allow_debug on", highlight=False)
    how = "registered" if result["newly_registered"] else "already registered"
    console.print(
        f"[green]✓[/] debug enclave [bold]{result['enclave_id']}[/] {how} "
        f"(key {result['public_key']})",
        highlight=False,
    )
    console.print(f"  {result['explorer_url']}", highlight=False)
