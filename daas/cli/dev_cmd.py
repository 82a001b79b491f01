"""`daas dev`: the whole pipeline offline on one machine (see `daas.dev.stack`).

It prints the URLs and a ready-to-run `daas submit`; `--demo` also submits `examples/hello` through the CLI,
follows it, verifies it, and exits 0 once every check passes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from daas.cli.app import app
from daas.cli.output import state

if TYPE_CHECKING:
    from rich.console import Console

    from daas.dev.stack import DevEndpoints

log = logging.getLogger("daas.dev")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


def _example_dir() -> Path:
    local = Path("examples/hello")
    return local if (local / "Dockerfile").is_file() else EXAMPLE


def _daas(config: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daas.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_demo(config: Path, example: Path) -> tuple[bool, str]:
    """Submit, follow and verify the example as a user would; returns (ok, a summary)."""
    submitted = _daas(config, "--json", "submit", str(example), timeout=600)
    lines = [json.loads(line) for line in submitted.stdout.splitlines() if line.startswith("{")]
    request = next((line for line in lines if line.get("kind") == "submitted"), None)
    if submitted.returncode != 0 or request is None:
        return False, f"submit failed (exit {submitted.returncode}): {submitted.stderr.strip()}"
    request_id = str(request["request_id"])
    verified = _daas(config, "--json", "verify", request_id, timeout=300)
    try:
        report = json.loads(verified.stdout)
    except json.JSONDecodeError:
        return False, f"verify failed (exit {verified.returncode}): {verified.stderr.strip()}"
    failed = [check["name"] for check in report.get("checks", []) if not check.get("ok")]
    if verified.returncode != 0 or not report.get("ok"):
        return False, f"build {request_id}: verification failed: {', '.join(failed) or '?'}"
    return True, f"build {request_id} SUCCEEDED and verified ({len(report['checks'])} checks)"


@app.command("dev")
def dev(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="state of the dev stack (default: DATA_DIR/dev)"),
    ] = None,
    api_port: Annotated[int, typer.Option(help="0 picks a free port")] = 8080,
    sui_port: Annotated[int, typer.Option(help="0 picks a free port")] = 9000,
    walrus_port: Annotated[int, typer.Option(help="0 picks a free port")] = 31415,
    demo: Annotated[
        bool, typer.Option("--demo", help="submit examples/hello, verify it, then exit")
    ] = False,
) -> None:
    """Run the whole pipeline offline: Sui and Walrus stand-ins, indexer, runner and API."""
    from daas.dev.stack import DevOptions, run_dev

    st = state(ctx)
    settings = st.settings
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The scheduler announces every periodic job at INFO; that drowns the pipeline's own lines.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    options = DevOptions(
        data_dir=data_dir or settings.data_dir / "dev",
        api_port=api_port,
        sui_port=sui_port,
        walrus_port=walrus_port,
        log_level=settings.log_level,
    )
    console = st.console
    outcome: dict[str, object] = {"ok": True}

    async def main() -> None:
        stop = asyncio.Event()

        def ready(endpoints: DevEndpoints) -> None:
            if st.json:
                # One line, flushed: scripts read it to learn where the stack listens.
                sys.stdout.write(json.dumps({"ready": True, **endpoints.as_dict()}) + "\n")
                sys.stdout.flush()
            else:
                _print_ready(console, endpoints)

        async def _demo(endpoints: DevEndpoints) -> None:
            try:
                ok, summary = await asyncio.to_thread(
                    run_demo, endpoints.config_file, _example_dir()
                )
                outcome.update(ok=ok, summary=summary)
                if ok:
                    console.print(summary, soft_wrap=True, highlight=False)
                else:
                    log.error(summary)
            finally:
                stop.set()

        await run_dev(options, on_ready=ready, stop=stop, then=_demo if demo else None)

    asyncio.run(main())
    if demo and st.json:
        sys.stdout.write(json.dumps(outcome) + "\n")
    raise typer.Exit(0 if outcome["ok"] else 1)


def _print_ready(console: Console, endpoints: DevEndpoints) -> None:
    config = endpoints.config_file
    lines = [
        "[bold green]DaaS dev stack is up[/] (Ctrl-C stops it)",
        f"  dashboard {endpoints.api_url}/   (the DaaS Dev Wallet is offered there)",
        f"  API       {endpoints.api_url}   (SSE: /v1/events, registry: /v2/)",
        f"  Sui       {endpoints.grpc_url}   chain {endpoints.chain_id}",
        f"  Walrus    {endpoints.walrus_url}",
        f"  package   {endpoints.package_id}",
        f"  registry  {endpoints.registry_id}",
        f"  you       {endpoints.user_address} (a funded dev key)",
        f"  settings  {config}",
        "Open the dashboard, or in a second terminal:",
        f"  .venv/bin/daas --config {config} submit {_example_dir()}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
