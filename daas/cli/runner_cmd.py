"""`daas runner`: claim build requests and take each to a signed result on chain, until stopped.

The first SIGINT/SIGTERM stops claiming and lets the current build finish within `--grace-period`; a second
gives the build back at once (a result already being submitted still completes).
"""

from __future__ import annotations

import contextlib
import signal
from enum import StrEnum
from typing import Annotated, Any

import typer

from daas.cli.app import app
from daas.cli.output import state
from daas.config import Settings


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class AttestorKind(StrEnum):
    LOCAL = "local"
    NITRO = "nitro"


@app.command("runner")
def runner(
    ctx: typer.Context,
    grace_period: Annotated[
        float,
        typer.Option(
            "--grace-period", min=0, help="seconds the current build may finish after a stop"
        ),
    ] = 30.0,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json (one object per line)")
    ] = LogFormat.TEXT,
    attestor: Annotated[
        AttestorKind,
        typer.Option(
            "--attestor",
            help="local: the 0600 key file keys.enclave_key_file (a debug enclave); "
            "nitro: a key attested by /dev/nsm, registered at every start",
        ),
    ] = AttestorKind.LOCAL,
    register_debug_enclave: Annotated[
        bool,
        typer.Option(
            "--register-debug-enclave",
            help="first register the local key as a debug enclave (keys.* must be the admin's key)",
        ),
    ] = False,
    admin_cap: Annotated[
        str | None,
        typer.Option("--admin-cap", help="the AdminCap id, for --register-debug-enclave"),
    ] = None,
) -> None:
    """Run builds: claim, fetch, build, export to Walrus, attest, submit on chain; Ctrl-C stops."""
    import anyio

    from runner.logfmt import configure_logging

    settings = state(ctx).settings
    if register_debug_enclave and admin_cap is None:
        raise typer.BadParameter(
            "--register-debug-enclave needs --admin-cap", param_hint="--admin-cap"
        )
    configure_logging(settings.log_level, log_format.value)
    anyio.run(
        _run,
        settings,
        grace_period,
        attestor,
        admin_cap if register_debug_enclave else None,
        backend="asyncio",
    )


async def _register(settings: Settings, admin_cap: str) -> None:
    from daas.attestation.attestor import LocalKeyAttestor
    from daas.attestation.registration import ensure_debug_enclave, record_path_for
    from daas.chain.client import SuiClient
    from daas.chain.keys import load_signer
    from daas.chain.transactions import DaasPackage, TransactionSubmitter

    package = DaasPackage.from_settings(settings.chain)
    key = LocalKeyAttestor.load_or_create(settings.enclave_key_file)
    async with SuiClient.from_settings(settings) as chain:
        admin = TransactionSubmitter(
            chain, load_signer(settings.keys), gas_budget=settings.chain.gas_budget
        )
        await ensure_debug_enclave(
            chain,
            admin,
            package,
            admin_cap_id=admin_cap,
            attestor=key,
            chain_id=chain.chain_id or "",
            record_path=record_path_for(settings.enclave_key_file),
        )


async def _run(
    settings: Settings, grace_period: float, attestor: AttestorKind, admin_cap: str | None
) -> None:
    import asyncio

    from daas.attestation.attestor import NitroAttestor
    from runner.service import RunnerOptions, open_runner

    if admin_cap is not None:
        await _register(settings, admin_cap)
    options = RunnerOptions(grace_period_s=grace_period)
    chosen = NitroAttestor() if attestor is AttestorKind.NITRO else None
    async with open_runner(settings, options=options, attestor=chosen) as service:
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal(*_: Any) -> None:
            nonlocal signals
            signals += 1
            service.request_stop(now=signals > 1)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        await service.run()
