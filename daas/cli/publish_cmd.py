"""`daas publish`: publish the `daas` Move package with the Sui CLI and record its object ids.

It runs `sui client publish --json --gas-budget N DIR` (the Sui CLI's active environment and address sign
and pay: `sui client active-env`, `sui client active-address`), checks that the transaction succeeded, and
reads from its `objectChanges` the package id (`type: published`) and the objects the package's `init`
created (`type: created`): the shared `<package>::builds::Registry` and `<package>::enclave::EnclaveConfig`,
the `<package>::builds::AdminCap` sent to the publisher, and the `0x2::package::UpgradeCap`.

The ids are printed (`--json` too) and written to the `[chain]` table of a TOML settings file (`--output`,
else the `--config` file, else `./daas.toml`) as `package_id`, `registry_id` and `enclave_config_id`. Only
those three keys are rewritten; every other line of the file is kept as it is. The AdminCap id is not a
setting: it is printed for `daas enclave register-debug --admin-cap` (or `DAAS_ADMIN_CAP_ID`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from daas.cli.app import app
from daas.cli.common import ExitCode, exit_with, human_console
from daas.cli.output import state

DEFAULT_GAS_BUDGET = 1_000_000_000  # MIST (1 SUI): a ceiling; the publish costs what it costs
STDERR_TAIL_LINES = 20
CHAIN_KEYS = ("package_id", "registry_id", "enclave_config_id")

_NO_SUI = (
    "the Sui CLI (`sui`) is not installed or not on PATH: install it "
    "(https://docs.sui.io/guides/developer/getting-started/sui-install) and pass --sui PATH if it is "
    "elsewhere, or publish the package another way and set the ids by hand: chain.package_id, "
    "chain.registry_id and chain.enclave_config_id (environment DAAS_CHAIN__PACKAGE_ID, "
    "DAAS_CHAIN__REGISTRY_ID, DAAS_CHAIN__ENCLAVE_CONFIG_ID)"
)


class PublishError(Exception):
    """The Sui CLI failed, or its output is not a successful publish of the daas package."""


@dataclasses.dataclass(frozen=True)
class Published:
    package_id: str
    registry_id: str
    admin_cap_id: str
    enclave_config_id: str
    upgrade_cap_id: str | None
    tx_digest: str | None
    sender: str | None

    def as_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)


def normalize_id(value: object) -> str:
    """`0x` + 64 lower-case hex digits, or `PublishError`."""
    text = str(value)
    digits = text[2:] if text.startswith("0x") else ""
    if not 1 <= len(digits) <= 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise PublishError(f"{text!r} is not a Sui object id")
    return "0x" + digits.lower().rjust(64, "0")


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def _json_document(stdout: str) -> dict[str, Any]:
    """The JSON object the Sui CLI printed; tolerate stray lines before it (older CLIs print notes)."""
    text = stdout.strip()
    candidates = [text]
    start = text.find("\n{")
    if start >= 0:
        candidates.append(text[start + 1 :])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    raise PublishError("the Sui CLI's output is not a JSON object (was --json honoured?)")


def parse_publish_output(stdout: str) -> Published:
    """Read the ids from `sui client publish --json` output; `PublishError` unless it succeeded."""
    data = _json_document(stdout)
    effects = data.get("effects")
    status = effects.get("status") if isinstance(effects, dict) else None
    if not isinstance(status, dict) or "status" not in status:
        raise PublishError("the Sui CLI's output has no effects.status: not a transaction response")
    if status["status"] != "success":
        digest = data.get("digest")
        raise PublishError(
            f"the publish transaction{f' {digest}' if digest else ''} failed on chain: "
            f"{status.get('error') or status['status']}"
        )
    changes = data.get("objectChanges")
    if not isinstance(changes, list):
        raise PublishError("the Sui CLI's output has no objectChanges list")
    packages = [
        c["packageId"] for c in changes if isinstance(c, dict) and c.get("type") == "published"
    ]
    if len(packages) != 1:
        raise PublishError(
            f"expected one published package in objectChanges, found {len(packages)}"
        )
    package_id = normalize_id(packages[0])

    found: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        if not isinstance(change, dict) or change.get("type") != "created":
            continue
        object_type = str(change.get("objectType", ""))
        address, _, rest = object_type.partition("::")
        if object_type == "0x2::package::UpgradeCap" or rest == "package::UpgradeCap":
            found.setdefault("package::UpgradeCap", []).append(change)
            continue
        try:
            same_package = normalize_id(address) == package_id
        except PublishError:
            continue
        if same_package:
            found.setdefault(rest, []).append(change)

    def one(type_name: str) -> dict[str, Any]:
        matches = found.get(type_name, [])
        if len(matches) != 1:
            raise PublishError(
                f"expected one created {package_id}::{type_name} in objectChanges, found "
                f"{len(matches)}: is --move-dir the daas package?"
            )
        return matches[0]

    registry = one("builds::Registry")
    admin_cap = one("builds::AdminCap")
    enclave_config = one("enclave::EnclaveConfig")
    upgrade_caps = found.get("package::UpgradeCap", [])
    transaction = data.get("transaction")
    sender = admin_cap.get("sender")
    if sender is None and isinstance(transaction, dict):
        sender = (transaction.get("data") or {}).get("sender")
    return Published(
        package_id=package_id,
        registry_id=normalize_id(registry.get("objectId")),
        admin_cap_id=normalize_id(admin_cap.get("objectId")),
        enclave_config_id=normalize_id(enclave_config.get("objectId")),
        upgrade_cap_id=normalize_id(upgrade_caps[0].get("objectId")) if upgrade_caps else None,
        tx_digest=str(data["digest"]) if data.get("digest") else None,
        sender=normalize_id(sender) if sender else None,
    )


# --- the settings file --------------------------------------------------------------------------------

_TABLE_HEADER = re.compile(r"^\s*\[")
_CHAIN_HEADER = re.compile(r"^\s*\[\s*chain\s*\]\s*(#.*)?$")


def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{key}\s*=")


def merge_chain_ids(text: str, ids: dict[str, str]) -> str:
    """`text` with `[chain]` keys `ids` set: existing key lines replaced, missing ones added after the
    table's header (a new `[chain]` table at the end when there is none). Other lines are untouched."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if _CHAIN_HEADER.match(line)), None)
    if header is None:
        body = text.rstrip("\n")
        table = ["[chain]", *(f'{key} = "{value}"' for key, value in ids.items())]
        return (body + "\n\n" if body else "") + "\n".join(table) + "\n"
    end = next(
        (i for i in range(header + 1, len(lines)) if _TABLE_HEADER.match(lines[i])), len(lines)
    )
    missing = []
    for key, value in ids.items():
        pattern = _key_line(key)
        where = [i for i in range(header + 1, end) if pattern.match(lines[i])]
        if where:
            for i in where:
                lines[i] = f'{key} = "{value}"'
        else:
            missing.append(f'{key} = "{value}"')
    lines[header + 1 : header + 1] = missing
    return "\n".join(lines) + "\n"


def write_settings_file(path: Path, ids: dict[str, str]) -> dict[str, str]:
    """Set `[chain]` `ids` in the TOML file `path` (created if missing); returns the values replaced.

    The result is parsed back before it replaces the file, which is swapped in atomically with its mode
    kept, so a file this merge cannot handle (say `chain` as an inline table) is left as it was."""
    old_text = path.read_text() if path.exists() else ""
    try:
        old = tomllib.loads(old_text)
    except tomllib.TOMLDecodeError as exc:
        raise PublishError(f"{path} is not valid TOML ({exc}): fix it, or pass --output") from exc
    old_chain = old.get("chain", {})
    if not isinstance(old_chain, dict):
        raise PublishError(f"{path}: `chain` is not a table")
    new_text = merge_chain_ids(old_text, ids)
    try:
        new = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise PublishError(
            f"cannot merge the ids into {path} ({exc}): set them by hand under [chain]"
        ) from exc
    new_chain = new.get("chain", {})
    expected = {k: v for k, v in old.items() if k != "chain"}
    if {k: v for k, v in new.items() if k != "chain"} != expected or any(
        new_chain.get(k) != v for k, v in ids.items()
    ):
        raise PublishError(f"cannot merge the ids into {path}: set them by hand under [chain]")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {k: str(old_chain[k]) for k, v in ids.items() if k in old_chain and old_chain[k] != v}


# --- the command ----------------------------------------------------------------------------------------


def _find_sui(sui: Path | None) -> str | None:
    if sui is None:
        return shutil.which("sui")
    path = sui.expanduser()
    return str(path.absolute()) if path.is_file() and os.access(path, os.X_OK) else None


def run_sui_publish(sui: str, move_dir: Path, gas_budget: int) -> Published:
    command = [sui, "client", "publish", "--json", "--gas-budget", str(gas_budget), str(move_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PublishError(f"cannot run {sui}: {exc}") from exc
    if done.returncode != 0:
        tail = _tail(done.stderr) or _tail(done.stdout)
        raise PublishError(
            f"`sui client publish` exited with status {done.returncode}"
            + (f":\n{tail}" if tail else "")
        )
    try:
        return parse_publish_output(done.stdout)
    except PublishError as exc:
        tail = _tail(done.stderr)
        raise PublishError(f"{exc}" + (f"\nsui stderr:\n{tail}" if tail else "")) from exc


@app.command("publish")
def publish(
    ctx: typer.Context,
    move_dir: Annotated[
        Path, typer.Option("--move-dir", help="the daas Move package (the directory of Move.toml)")
    ] = Path("move"),
    gas_budget: Annotated[
        int,
        typer.Option("--gas-budget", min=1, help="gas budget of the publish transaction, in MIST"),
    ] = DEFAULT_GAS_BUDGET,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="TOML settings file whose chain ids to set (default: the --config file, else "
            "./daas.toml)",
        ),
    ] = None,
    sui: Annotated[
        Path | None, typer.Option("--sui", help="the Sui CLI binary (default: `sui` on PATH)")
    ] = None,
) -> None:
    """Publish the daas Move package with the Sui CLI and record its ids in a settings file."""
    st = state(ctx)
    console = human_console()
    config = ctx.find_root().params.get("config")
    target = (output or (Path(config) if config else Path("daas.toml"))).expanduser()
    if not (move_dir / "Move.toml").is_file():
        exit_with(
            console,
            f"{move_dir} has no Move.toml: pass --move-dir with the daas package",
            ExitCode.USAGE,
        )
    binary = _find_sui(sui)
    if binary is None:
        where = f" ({sui} is not an executable file)" if sui is not None else ""
        exit_with(console, _NO_SUI + where, ExitCode.USAGE)
    console.print(
        f"publishing {move_dir} with {binary} (its active environment and address pay)…",
        highlight=False,
    )
    try:
        published = run_sui_publish(binary, move_dir, gas_budget)
    except PublishError as exc:
        exit_with(console, str(exc), ExitCode.FAILED)
    ids = {
        "package_id": published.package_id,
        "registry_id": published.registry_id,
        "enclave_config_id": published.enclave_config_id,
    }
    try:
        replaced = write_settings_file(target, ids)
    except (PublishError, OSError) as exc:
        # The package is on chain: show the ids so they are not lost.
        console.print_json(data=published.as_dict())
        exit_with(console, f"published, but not recorded: {exc}", ExitCode.USAGE)
    if st.json:
        st.emit_json({**published.as_dict(), "settings_file": str(target), "replaced": replaced})
        return
    console.print(f"[green]✓[/] published package [bold]{published.package_id}[/]", highlight=False)
    if published.tx_digest:
        console.print(f"  transaction        {published.tx_digest}", highlight=False)
    console.print(f"  registry_id        {published.registry_id}", highlight=False)
    console.print(f"  enclave_config_id  {published.enclave_config_id}", highlight=False)
    if published.upgrade_cap_id:
        console.print(f"  UpgradeCap         {published.upgrade_cap_id}", highlight=False)
    console.print(
        f"[bold yellow]AdminCap[/] [bold]{published.admin_cap_id}[/]"
        + (f" (owned by {published.sender})" if published.sender else ""),
        highlight=False,
    )
    console.print(
        "  keep it: `daas enclave register-debug --admin-cap "
        f"{published.admin_cap_id}` and every registry admin call need it "
        f"(or export DAAS_ADMIN_CAP_ID={published.admin_cap_id})",
        highlight=False,
    )
    for key, value in replaced.items():
        console.print(f"  replaced chain.{key} = {value}", highlight=False)
    console.print(f"[green]✓[/] wrote \\[chain] ids to {target}", highlight=False)
