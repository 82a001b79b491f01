"""`daas dev`: the whole pipeline on one machine, offline, in one process.

    Sui stand-in (gRPC) ─▶ indexer ─▶ database ─▶ runner (Docker) ─▶ Walrus stand-in (HTTP)
                                         │                 └──── complete / fail ──▶ Sui stand-in
                                         └─▶ API (REST, SSE, /v2 registry) on 127.0.0.1

Everything lives under one data directory: the chain's state file, Walrus blobs, the SQLite database, the
dev keys (0600) and `config.toml`, which the other commands accept with `--config`, so a second terminal can
submit, watch, verify and pull against the running stack. A restart on the same directory continues the same
chain. The keys made here are development keys for a chain that exists only on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daas.chain.codecs import RegistryObject
from daas.chain.keys import SuiSigner, write_keystore
from daas.chain.transactions import DaasPackage, TransactionSubmitter
from daas.config import Settings, load_settings
from daas.errors import DaasError
from daas.services import listen, serve_services

if TYPE_CHECKING:
    from api.deps import FaucetGrant
    from emulator.sui.standin import SuiStandIn

log = logging.getLogger("daas.dev")

MIST_PER_SUI = 1_000_000_000
DEV_FUNDS_SUI = 10_000
FAUCET_SUI = 100  # per request of the dashboard's development wallet


@dataclasses.dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    api_port: int = 8080
    sui_port: int = 9000
    walrus_port: int = 31415
    checkpoint_interval_s: float = 0.25
    log_level: str = "INFO"


@dataclasses.dataclass(frozen=True)
class DevEndpoints:
    """What a running stack prints, and what `config.toml` records."""

    api_url: str
    grpc_url: str
    walrus_url: str
    chain_id: str
    package_id: str
    registry_id: str
    enclave_config_id: str
    admin_cap_id: str
    config_file: Path
    user_address: str
    admin_address: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in dataclasses.asdict(self).items()}


def _dev_key(path: Path) -> SuiSigner:
    """The key stored at `path`, created (mode 0600) on first use."""
    if path.exists():
        return SuiSigner.from_keystore(path)
    signer = SuiSigner.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_keystore(path, [signer])
    return signer


@contextlib.contextmanager
def _port_errors(option: str, port: int) -> Iterator[None]:
    """A port that is taken becomes one line naming the option to change."""
    try:
        yield
    except (OSError, DaasError) as exc:
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(exc)
        raise DaasError(
            f"cannot listen on 127.0.0.1:{port} ({reason}): pass another {option} (0 picks a free one)"
        ) from exc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, sections: dict[str, dict[str, Any]], top: dict[str, Any]) -> None:
    """A small TOML file (flat sections of scalars), written atomically."""
    lines = ["# Written by `daas dev`: settings for commands run against the dev stack.", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for name, values in sections.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


async def _dev_enclave(settings: Settings, admin: SuiSigner, admin_cap_id: str) -> str:
    """Allow debug enclaves on this dev chain and register the runner's local key as one (once)."""
    from daas.attestation.attestor import LocalKeyAttestor
    from daas.attestation.registration import ensure_debug_enclave, record_path_for
    from daas.chain.client import SuiClient

    attestor = await asyncio.to_thread(LocalKeyAttestor.load_or_create, settings.enclave_key_file)
    package = DaasPackage.from_settings(settings.chain)
    async with SuiClient.from_settings(settings) as client:
        submitter = TransactionSubmitter(client, admin, gas_budget=settings.chain.gas_budget)
        info = await client.get_object(package.registry_id)
        if info.contents is None:
            raise DaasError(f"the node returned registry {package.registry_id} without contents")
        if not RegistryObject.from_bcs(info.contents).allow_debug:
            await submitter.submit(package.set_allow_debug(admin_cap_id, True))
            log.info("registry %s now allows debug enclaves (dev chain)", package.registry_id)
        record = await ensure_debug_enclave(
            client,
            submitter,
            package,
            admin_cap_id=admin_cap_id,
            attestor=attestor,
            chain_id=client.chain_id or "",
            record_path=record_path_for(settings.enclave_key_file),
        )
    return record.enclave_id


class StandInFaucet:
    """The API's `DevFaucet` on this machine's chain: each call is a stand-in faucet transaction."""

    def __init__(self, standin: SuiStandIn, amount_mist: int = FAUCET_SUI * MIST_PER_SUI) -> None:
        self._standin = standin
        self._amount = amount_mist

    async def fund(self, address: str) -> FaucetGrant:
        from api.deps import FaucetGrant

        record = self._standin.node.fund(address, self._amount)
        coin = next(change.object_id for change in record.changes)
        return FaucetGrant(amount_mist=self._amount, coin_id=coin, digest=record.digest)


async def run_dev(
    options: DevOptions,
    *,
    on_ready: Callable[[DevEndpoints], None],
    stop: asyncio.Event | None = None,
    then: Callable[[DevEndpoints], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Start the whole stack, call `on_ready`, and serve until `stop` is set (or SIGINT/SIGTERM).

    `then`, if given, runs as one more task of the stack once it is ready (the `--demo` flow).
    """
    from daas.build.base_image import ensure_local_base_image
    from emulator.sui.standin import SuiStandIn
    from emulator.walrus.server import serve_walrus

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    data = options.data_dir.expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    keys = data / "keys"
    admin = _dev_key(keys / "admin.keystore")
    user = _dev_key(keys / "user.keystore")

    # The base image examples build from; made from this machine's busybox-static, no registry.
    await asyncio.to_thread(ensure_local_base_image)

    funds = DEV_FUNDS_SUI * MIST_PER_SUI
    standin = SuiStandIn(
        funded=[(admin.address, funds), (user.address, funds)],
        admin_address=admin.address,
        seed="daas-dev",
        state_file=data / "chain.db",
        checkpoint_interval_s=options.checkpoint_interval_s,
    )
    async with contextlib.AsyncExitStack() as stack:
        with _port_errors("--sui-port", options.sui_port):
            grpc_url = await standin.start(port=options.sui_port)
        stack.push_async_callback(standin.stop)
        with _port_errors("--walrus-port", options.walrus_port):
            walrus = await stack.enter_async_context(
                serve_walrus(port=options.walrus_port, storage_dir=data / "walrus")
            )
        # Bound now, served later: the port is known (and held) before config.toml names it.
        with _port_errors("--api-port", options.api_port):
            api_sock = listen("127.0.0.1", options.api_port)
        stack.callback(api_sock.close)
        api_port = int(api_sock.getsockname()[1])
        api_url = f"http://127.0.0.1:{api_port}"
        database_url = f"sqlite:///{data / 'daas.db'}"
        chain = {
            "grpc_url": grpc_url,
            "chain_id": standin.chain_id,
            "package_id": standin.package_id,
            "registry_id": standin.registry_id,
            "enclave_config_id": standin.enclave_config_id,
        }
        common: dict[str, dict[str, Any]] = {
            "chain": chain,
            "walrus": {"publisher_url": walrus.url, "aggregator_url": walrus.url},
            "api": {"host": "127.0.0.1", "port": api_port, "public_url": api_url},
        }
        top = {"network": "localnet", "data_dir": str(data), "database_url": database_url}
        config_file = data / "config.toml"
        write_config(
            config_file,
            {**common, "keys": {"sui_keystore": str(keys / "user.keystore")}},
            top,
        )
        # The services pay gas and register the debug enclave with the admin key; users submit with theirs.
        service_settings = load_settings(
            None,
            **top,
            **common,
            log_level=options.log_level,
            keys={
                "sui_keystore": str(keys / "admin.keystore"),
                "enclave_key_file": str(keys / "enclave.key"),
            },
        )
        await _dev_enclave(service_settings, admin, standin.admin_cap_id)

        endpoints = DevEndpoints(
            api_url=api_url,
            grpc_url=grpc_url,
            walrus_url=walrus.url,
            chain_id=standin.chain_id,
            package_id=standin.package_id,
            registry_id=standin.registry_id,
            enclave_config_id=standin.enclave_config_id,
            admin_cap_id=standin.admin_cap_id,
            config_file=config_file,
            user_address=user.address,
            admin_address=admin.address,
        )
        await serve_services(
            service_settings,
            stop=stop,
            sock=api_sock,
            on_ready=lambda _url: on_ready(endpoints),
            then=(lambda: then(endpoints)) if then is not None else None,
            faucet=StandInFaucet(standin),
        )
