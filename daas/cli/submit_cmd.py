"""`daas submit PATH`: pack a build context, store it on Walrus, request its build on chain, follow it.

1. Pack PATH deterministically (`daas.bundle.pack_directory`: sorted entries, fixed times and owners,
   `.dockerignore`), or take `--bundle FILE` as it is after checking it the way the runner will; show the size,
   the file count and the sha256.
2. Check what would make the request fail before anything is paid: the key (`keys.*`), the package ids
   (`chain.*`), the registry (paused? minimum fee), the balance (fee + gas budget), the publisher's request cap.
3. Store the bundle on Walrus (one blob, with a progress bar), then build, sign and execute
   `builds::request_build` with the user's key; print the request id and explorer links.
4. Unless `--detach`, follow the build as `daas watch` does (exit code 0 only if it SUCCEEDED).

With `--json`, stdout carries JSON Lines: first the submission (`request_id`, `tx_digest`, blob id, sha256,
size, links), then, when following, one line per build event.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from daas.cli.app import app
from daas.cli.common import (
    ExitCode,
    api_base_url,
    connect_chain,
    exit_on_errors,
    exit_with,
    human_console,
    human_size,
    open_walrus,
)
from daas.cli.output import state
from daas.cli.watch_cmd import ApiOption, ReconnectOption, exit_code_for, watch_build
from daas.config import Settings
from daas.errors import ChainError, ConfigError, DaasError, TransactionFailed

_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")

# `builds::request_build` aborts a user can do something about (docs/protocol.md).
_ABORT_HINTS = {
    1: "the registry is paused: no new builds are accepted for now",
    2: "the registry was upgraded: this client's package id is out of date (chain.package_id)",
    3: "the fee is below the registry's minimum fee",
    4: "a field is too long (blob id over 128, Dockerfile path over 256, platform over 32 bytes)",
    15: "an empty field (blob id, Dockerfile path or platform)",
}


@dataclasses.dataclass(frozen=True)
class Bundle:
    data: bytes
    sha256: bytes
    files: int | None  # unknown for a --bundle file until unpacked
    source: str


@dataclasses.dataclass(frozen=True)
class Submission:
    request_id: str
    tx_digest: str
    blob_id: str
    sha256: str
    size: int
    files: int | None
    fee: int
    dockerfile: str
    platform: str
    spec_digest: str
    requester: str
    explorer_request_url: str
    explorer_tx_url: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "submitted", **dataclasses.asdict(self)}


def _pack(settings: Settings, path: Path, dockerfile: str, console: Console | None) -> Bundle:
    from daas.bundle import BundleLimits, PackProgress, pack_directory

    if not path.exists():
        raise ConfigError(f"{path} does not exist: give the build context directory")
    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory: give the build context (or use --bundle)")
    limits = BundleLimits.from_settings(settings.runner)
    if console is None or not console.is_terminal:
        packed = pack_directory(path, dockerfile=dockerfile, limits=limits)
    else:
        with _bytes_progress(console) as progress:
            task = progress.add_task("packing", total=None)

            def on_progress(done: PackProgress) -> None:
                progress.update(task, completed=done.bytes_done, total=done.bytes_total)

            packed = pack_directory(
                path, dockerfile=dockerfile, limits=limits, on_progress=on_progress
            )
    with packed:
        return Bundle(packed.read_bytes(), packed.sha256, packed.file_count, str(path))


def _read_bundle(settings: Settings, path: Path, dockerfile: str) -> Bundle:
    """A bundle file as it is, after the runner's own checks (so a bad one costs no fee)."""
    import hashlib

    from daas.bundle import BundleLimits, unpack_bundle
    from daas.errors import RequesterFault

    if not path.is_file():
        raise ConfigError(f"--bundle {path} is not a file")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).digest()
    with tempfile.TemporaryDirectory(prefix="daas-bundle-check-") as tmp:
        try:
            unpacked = unpack_bundle(
                data,
                Path(tmp) / "context",
                expected_sha256=sha256,
                expected_size=len(data),
                limits=BundleLimits.from_settings(settings.runner),
                dockerfile=dockerfile,
            )
        except RequesterFault as exc:
            raise DaasError(f"bad bundle file {path}: the runner would refuse it: {exc}") from exc
    return Bundle(data, sha256, unpacked.file_count, str(path))


def _bytes_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


async def _submit(
    settings: Settings,
    bundle: Bundle,
    *,
    fee: int | None,
    dockerfile: str,
    platform: str,
    console: Console | None,
) -> Submission:
    from daas.chain.codecs import BuildRequested, BuildSpec, RegistryObject
    from daas.chain.keys import load_signer
    from daas.chain.transactions import DaasPackage, TransactionSubmitter

    package = DaasPackage.from_settings(settings.chain)
    signer = load_signer(settings.keys)
    cap = settings.walrus.max_request_bytes
    if len(bundle.data) > cap:
        raise DaasError(
            f"the bundle is {len(bundle.data)} bytes ({human_size(len(bundle.data))}), over the Walrus "
            f"publisher's request cap of {cap} bytes (walrus.max_request_bytes): make the context "
            "smaller (.dockerignore) or use a publisher that accepts more"
        )
    async with connect_chain(settings) as chain:
        registry_info = await chain.get_object(package.registry_id)
        if registry_info.contents is None:
            raise ChainError(
                f"the node returned the registry {package.registry_id} without contents"
            )
        registry = RegistryObject.from_bcs(registry_info.contents)
        if registry.paused:
            raise DaasError(f"the registry {package.registry_id} is paused: no builds are accepted")
        fee = registry.min_fee if fee is None else fee
        if fee < registry.min_fee:
            raise ConfigError(
                f"--fee {fee} MIST is below the registry's minimum fee of {registry.min_fee} MIST"
            )
        budget = settings.chain.gas_budget
        balance = await chain.get_balance(signer.address)
        if balance < fee + budget:
            raise DaasError(
                f"insufficient balance: {signer.address} holds {balance} MIST, but the fee "
                f"({fee}) and the gas budget ({budget}, chain.gas_budget) need {fee + budget}: "
                "fund the address first"
            )

        async with open_walrus(settings) as walrus:
            if console is None or not console.is_terminal:
                stored = await walrus.store(bundle.data)
            else:
                with _bytes_progress(console) as progress:
                    task = progress.add_task("storing on Walrus", total=len(bundle.data))

                    def on_progress(done: int, total: int | None) -> None:
                        progress.update(task, completed=done, total=total or len(bundle.data))

                    stored = await walrus.store(bundle.data, on_progress=on_progress)
        if console is not None:
            console.print(
                f"[green]✓[/] stored on Walrus as [bold]{stored.blob_id}[/]"
                + ("" if stored.newly_created else " (already stored)"),
                highlight=False,
            )

        spec = BuildSpec(stored.blob_id, bundle.sha256, dockerfile, platform)
        submitter = TransactionSubmitter(chain, signer, gas_budget=budget)
        try:
            result = await submitter.submit(package.request_build(spec, fee))
        except TransactionFailed as exc:
            hint = _ABORT_HINTS.get(exc.abort_code or -1) if exc.module == "builds" else None
            raise TransactionFailed(
                f"{exc}" + (f": {hint}" if hint else ""),
                abort_code=exc.abort_code,
                digest=exc.digest,
                module=exc.module,
                function=exc.function,
            ) from exc
    requested = [e for e in result.decoded_events() if isinstance(e, BuildRequested)]
    if not requested:
        raise ChainError(f"transaction {result.digest} emitted no BuildRequested event")
    event = requested[0]
    return Submission(
        request_id=event.request_id,
        tx_digest=result.digest,
        blob_id=stored.blob_id,
        sha256=bundle.sha256.hex(),
        size=len(bundle.data),
        files=bundle.files,
        fee=fee,
        dockerfile=dockerfile,
        platform=platform,
        spec_digest=event.spec_digest.hex(),
        requester=signer.address,
        explorer_request_url=settings.explorer_object_url(event.request_id),
        explorer_tx_url=settings.explorer_tx_url(result.digest),
    )


def _json_line(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    sys.stdout.flush()


@app.command("submit")
def submit(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="the build context: a directory with a Dockerfile")
    ] = None,
    bundle_file: Annotated[
        Path | None,
        typer.Option("--bundle", help="submit this bundle archive (.tar.gz) as it is, not PATH"),
    ] = None,
    fee: Annotated[
        int | None,
        typer.Option("--fee", min=0, help="MIST to escrow (default: the registry's minimum fee)"),
    ] = None,
    dockerfile: Annotated[
        str, typer.Option("--dockerfile", help="Dockerfile path inside the context")
    ] = "Dockerfile",
    platform: Annotated[
        str, typer.Option("--platform", help="target platform, os/arch")
    ] = "linux/amd64",
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="print the request id and exit; do not follow")
    ] = False,
    api: ApiOption = None,
    reconnect_timeout: ReconnectOption = 60.0,
) -> None:
    """Pack PATH, store it on Walrus, request its build on chain with your key, and follow it.

    Exit code 0 once the build SUCCEEDED (with --detach: once it is requested), 1 if it failed, 2 for usage
    or settings (no key, no package ids), 3 when the node, Walrus or the API cannot be reached.
    """
    import anyio

    st = state(ctx)
    console = human_console()
    human = None if st.json else console
    with exit_on_errors(console):
        if (path is None) == (bundle_file is None):
            raise ConfigError("give either a context directory PATH or --bundle FILE (not both)")
        if not _PLATFORM.match(platform) or len(platform) > 32:
            raise ConfigError(f"--platform {platform!r} is not os/arch (e.g. linux/amd64)")
        if not dockerfile or len(dockerfile.encode()) > 256:
            raise ConfigError("--dockerfile must be 1 to 256 bytes")
        settings = st.settings
        if bundle_file is not None:
            bundle = _read_bundle(settings, bundle_file, dockerfile)
        else:
            assert path is not None
            bundle = _pack(settings, path, dockerfile, human)
        if human is not None:
            files = f", {bundle.files} files" if bundle.files is not None else ""
            console.print(
                f"[green]✓[/] bundle {bundle.source}: {human_size(len(bundle.data))}"
                f" ({len(bundle.data)} bytes{files}), sha256 {bundle.sha256.hex()}",
                highlight=False,
            )
        url = None if detach else api_base_url(settings, api)
        submission = anyio.run(
            lambda: _submit(
                settings,
                bundle,
                fee=fee,
                dockerfile=dockerfile,
                platform=platform,
                console=human,
            )
        )
    if human is None:
        _json_line(submission.to_json())
    else:
        console.print(
            f"[green]✓[/] requested build [bold]{submission.request_id}[/] "
            f"(fee {submission.fee} MIST)",
            highlight=False,
        )
        console.print(f"  request:     {submission.explorer_request_url}", highlight=False)
        console.print(f"  transaction: {submission.explorer_tx_url}", highlight=False)
    if detach or url is None:
        if human is not None:
            console.print(f"  follow it:   daas watch {submission.request_id}", highlight=False)
        return
    with exit_on_errors(console):
        try:
            status = anyio.run(
                lambda: watch_build(
                    settings,
                    url,
                    submission.request_id,
                    json_output=st.json,
                    console=console,
                    reconnect_timeout_s=reconnect_timeout,
                )
            )
        except DaasError as exc:
            exit_with(
                console,
                f"{exc} (the build is requested on chain as {submission.request_id})",
                ExitCode.UNREACHABLE,
            )
    raise SystemExit(int(exit_code_for(status)))
