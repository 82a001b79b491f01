"""`daas verify ID` and `daas attestation verify FILE`: checklists anyone can reproduce.

`daas verify` re-derives every claim of a build request from the chain (gRPC) and Walrus alone, never from a
database or our API; the checks are listed in `daas.verify`. `daas attestation verify` checks one raw Nitro
attestation document (binary CBOR or hex). Both print a checklist (stderr), or with `--json`
`{"ok": bool, "checks": [{"name", "ok", "detail"}, ...]}` on stdout, and exit 1 when any check fails
(other codes: `daas.cli.common`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from daas.attestation import Check
from daas.cli.app import app
from daas.cli.common import (
    ExitCode,
    connect_chain,
    exit_on_errors,
    exit_with,
    human_console,
    normalize_request_id,
    open_walrus,
)
from daas.cli.output import state
from daas.config import Settings
from daas.errors import ConfigError

attestation_app = typer.Typer(help="Nitro attestation documents.", no_args_is_help=True)
app.add_typer(attestation_app, name="attestation")

Pcr0 = Annotated[str | None, typer.Option("--pcr0", help="expected PCR0 (hex, 48 bytes)")]
Pcr1 = Annotated[str | None, typer.Option("--pcr1", help="expected PCR1 (hex, 48 bytes)")]
Pcr2 = Annotated[str | None, typer.Option("--pcr2", help="expected PCR2 (hex, 48 bytes)")]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--nitro-root",
        "--root",
        help="trust this root certificate (PEM or DER) instead of the pinned AWS Nitro root "
        "(development: documents of a synthetic chain)",
        exists=True,
        dir_okay=False,
    ),
]

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]*$")


def _pcr(value: str | None, index: int) -> bytes | None:
    if value is None:
        return None
    text = value.strip()
    if not _HEX.match(text) or len(text.removeprefix("0x")) % 2:
        raise ConfigError(f"--pcr{index} is not hex")
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != 48:
        raise ConfigError(f"--pcr{index} is {len(raw)} bytes; a PCR is 48 bytes (96 hex digits)")
    return raw


def _expected_pcrs(values: Sequence[str | None]) -> dict[int, bytes] | None:
    pcrs = {i: raw for i, value in enumerate(values) if (raw := _pcr(value, i)) is not None}
    return pcrs or None


def load_root(path: Path | None) -> bytes | None:
    """A root certificate file (PEM or DER) as DER; None keeps the pinned AWS root."""
    if path is None:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = path.read_bytes()
    try:
        if raw.lstrip().startswith(b"-----"):
            cert = x509.load_pem_x509_certificate(raw)
        else:
            cert = x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM or DER certificate: {exc}") from exc
    return cert.public_bytes(Encoding.DER)


def print_checklist(console: Console, checks: Sequence[Check], warnings: Sequence[str]) -> None:
    width = max((len(check.name) for check in checks), default=0)
    for check in checks:
        mark = "[green]✓[/]" if check.ok else "[bold red]✗[/]"
        warned = check.ok and any(check.detail == text for text in warnings)
        if warned:
            mark = "[yellow]![/]"
        console.print(
            f"{mark} {escape(check.name).ljust(width)}  {escape(check.detail)}",
            highlight=False,
            soft_wrap=True,
        )


def _summary(
    console: Console, checks: Sequence[Check], what: str, warnings: Sequence[str] = ()
) -> None:
    failed = [check.name for check in checks if not check.ok]
    if failed:
        console.print(
            f"[bold red]{len(failed)} of {len(checks)} checks failed:[/] {', '.join(failed)}",
            highlight=False,
        )
        return
    noted = f", {len(warnings)} with a warning" if warnings else ""
    console.print(f"[bold green]verified:[/] {what} ({len(checks)} checks{noted})", highlight=False)


@app.command("verify")
def verify(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="the build request id (0x...)")],
    nitro_root: RootOption = None,
    pcr0: Pcr0 = None,
    pcr1: Pcr1 = None,
    pcr2: Pcr2 = None,
) -> None:
    """Re-derive every claim of a build from the chain and Walrus alone; exit 1 if any check fails.

    Checks the request and its spec digest, the enclave's signature over the result, the enclave (config,
    version, debug flag, PCRs, attestation document), the source bundle, the image index, manifest, config
    and every layer, and the log. `--pcr0/1/2` compare the config's PCRs with those published for the runner
    release. A FAILED build verifies too when its signed failure holds; `status` in the JSON says which.
    """
    import anyio

    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        request = normalize_request_id(request_id)
        settings = st.settings
        expected = _expected_pcrs([pcr0, pcr1, pcr2])
        report = anyio.run(_verify, settings, request, load_root(nitro_root), expected)
    if st.json:
        st.emit_json(report.to_json())
    else:
        console.print(f"build [bold]{report.request_id}[/] ({report.status})", highlight=False)
        print_checklist(console, report.checks, report.warnings)
        console.print(f"  request: {settings.explorer_object_url(report.request_id)}")
        if report.result_tx_digest and report.status in ("succeeded", "failed"):
            console.print(f"  result:  {settings.explorer_tx_url(report.result_tx_digest)}")
        _summary(
            console,
            report.checks,
            f"every claim of build {report.request_id} holds",
            report.warnings,
        )
    if not report.ok:
        raise SystemExit(int(ExitCode.FAILED))


async def _verify(
    settings: Settings, request_id: str, root_der: bytes | None, expected: dict[int, bytes] | None
) -> Any:
    from daas.verify import VerifyOptions, verify_build

    options = VerifyOptions.from_settings(settings, root_der=root_der, expected_pcrs=expected)
    async with connect_chain(settings) as client, open_walrus(settings) as walrus:
        return await verify_build(client, walrus, request_id, options)


def _read_document(path: Path) -> bytes:
    """A document file: raw CBOR, or its hex (whitespace and a 0x prefix allowed)."""
    if str(path) == "-":
        import sys

        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return raw
    compact = "".join(text.split()).removeprefix("0x")
    if compact and _HEX.match(compact) and len(compact) % 2 == 0:
        return bytes.fromhex(compact)
    return raw


@attestation_app.command("verify")
def attestation_verify(
    ctx: typer.Context,
    document: Annotated[
        Path, typer.Argument(help="the document: binary CBOR or hex text; - reads stdin")
    ],
    pcr0: Pcr0 = None,
    pcr1: Pcr1 = None,
    pcr2: Pcr2 = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="expected enclave public key (hex)")
    ] = None,
    root: RootOption = None,
    at_ms: Annotated[
        int | None,
        typer.Option(
            "--at-ms", min=0, help="check certificates at this time (default: the document's own)"
        ),
    ] = None,
    allow_debug: Annotated[
        bool, typer.Option("--allow-debug", help="accept all-zero PCRs (a debug-mode enclave)")
    ] = False,
) -> None:
    """Check a raw Nitro attestation document (binary or hex); exit 1 if any check fails.

    COSE_Sign1 ES384, the certificate chain to the pinned AWS Nitro root at the document's own time, not
    debug-mode PCRs, and the expected PCRs and public key when given.
    """
    st = state(ctx)
    console = human_console()
    with exit_on_errors(console):
        from daas.attestation import check_document

        expected = _expected_pcrs([pcr0, pcr1, pcr2])
        key = None
        if public_key is not None:
            text = public_key.strip().removeprefix("0x")
            if not _HEX.match(text) or len(text) % 2:
                raise ConfigError("--public-key is not hex")
            key = bytes.fromhex(text)
        raw = _read_document(document)
        try:
            checks = check_document(
                raw,
                root_der=load_root(root),
                at_ms=at_ms,
                expected_pcrs=expected,
                expected_public_key=key,
                allow_debug=allow_debug,
            )
        except ValueError as exc:  # bad arguments only (a bad document gives failed checks)
            exit_with(console, str(exc), ExitCode.USAGE)
    ok = bool(checks) and all(check.ok for check in checks)
    if st.json:
        st.emit_json(
            {
                "ok": ok,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            }
        )
    else:
        print_checklist(console, checks, [])
        _summary(console, checks, f"{document} is an authentic attestation document")
    if not ok:
        raise SystemExit(int(ExitCode.FAILED))
