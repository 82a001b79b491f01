"""Helpers for the CLI tests: the CLI as a subprocess, config files pointing at stand-ins, a finished build.

    async with cli_stack(tmp_path) as stack:                 # Sui + Walrus stand-ins, configs for them
        done = await run_cli("submit", str(HELLO), "--detach", config=stack.user_config, json=True)

`complete_build` plays the runner for one request: it builds the bundle from Walrus with the real Docker
engine, exports the image with `daas.image`, stores the log, and posts `complete` signed by the local attestor
key that `daas enclave register-debug` registered. Nothing but the stand-ins' public APIs is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa

from daas.attestation.attestor import LocalKeyAttestor, sign_result
from daas.build import DockerBuildExecutor
from daas.build.ports import BuildLimits, LogStream
from daas.bundle import BundleLimits, unpack_bundle
from daas.chain.codecs import BuildRequestObject, BuildSucceededPayload
from daas.chain.keys import SuiSigner
from daas.config import RunnerSettings, load_settings
from daas.db import notify
from daas.db.engine import create_engine_for
from daas.db.migrate import upgrade
from daas.db.models import BuildStatus, EventKind
from daas.image import ImageExporter, MemoryLayerCache, store_build_log
from daas.walrus import RetryPolicy, WalrusClient
from emulator.sui.testing import DevChain, dev_chain
from emulator.walrus import RunningWalrus, serve_walrus
from tests.api.support import add_events, insert_build, make_build, serve, settle

PROJECT = Path(__file__).resolve().parents[2]
HELLO = PROJECT / "examples" / "hello"
HELLO_LINE = "hello from daas: hello, built on Sui, stored on Walrus"
CAP = 256 * 1024  # a small publisher cap: the base layer is stored as several chunks
FAST = RetryPolicy(retries=2, base_delay_s=0.01, max_delay_s=0.05)
CLOSED_URL = "http://127.0.0.1:9"  # discard port: nothing listens there


@dataclasses.dataclass(frozen=True)
class Cli:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAAS_")}
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep lines whole for the assertions
    env.update(extra or {})
    return env


def cli_command(*args: str, config: Path | None = None, json_output: bool = False) -> list[str]:
    head = [sys.executable, "-m", "daas.cli"]
    if config is not None:
        head += ["--config", str(config)]
    if json_output:
        head.append("--json")
    return [*head, *args]


async def run_cli(
    *args: str,
    config: Path | None = None,
    json: bool = False,
    env: Mapping[str, str] | None = None,
    limit_s: float = 120,
) -> Cli:
    """Run `daas ARGS` as a user does, while this event loop keeps serving the stand-ins."""

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cli_command(*args, config=config, json_output=json),
            capture_output=True,
            text=True,
            env=cli_env(env),
            timeout=limit_s,
            check=False,
        )

    done = await anyio.to_thread.run_sync(run)
    return Cli(done.returncode, done.stdout, done.stderr)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a TOML basic string for everything we write


def write_config(path: Path, settings: Mapping[str, object]) -> Path:
    """A TOML settings file from `{"network": ..., "chain": {...}, ...}` (one level of tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in settings.items() if not isinstance(v, Mapping)]
    for table, values in settings.items():
        if isinstance(values, Mapping):
            lines.append(f"\n[{table}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclasses.dataclass
class CliStack:
    chain: DevChain
    walrus: RunningWalrus
    store: WalrusClient
    tmp: Path

    @property
    def user(self) -> SuiSigner:
        return self.chain.users[0]

    @property
    def enclave_key_file(self) -> Path:
        return self.tmp / "data" / "enclave.key"

    def settings(self, key: SuiSigner | None = None, **changes: Any) -> dict[str, Any]:
        standin = self.chain.standin
        settings: dict[str, Any] = {
            "network": "localnet",
            "data_dir": str(self.tmp / "data"),
            "chain": {
                "grpc_url": standin.url,
                "chain_id": standin.chain_id,
                "package_id": standin.package_id,
                "registry_id": standin.registry_id,
                "enclave_config_id": standin.enclave_config_id,
            },
            "walrus": {
                "publisher_url": self.walrus.url,
                "aggregator_url": self.walrus.url,
                "max_request_bytes": CAP,
                "retries": 1,
            },
            "keys": {
                "sui_private_key": (key or self.user).to_bech32(),
                "enclave_key_file": str(self.enclave_key_file),
            },
        }
        for table, values in changes.items():
            if isinstance(values, Mapping) and isinstance(settings.get(table), dict):
                settings[table] = {**settings[table], **values}
            else:
                settings[table] = values
        return settings

    def config(self, name: str, key: SuiSigner | None = None, **changes: Any) -> Path:
        return write_config(self.tmp / f"{name}.toml", self.settings(key, **changes))

    @property
    def user_config(self) -> Path:
        return self.config("user")

    @property
    def admin_config(self) -> Path:
        return self.config("admin", self.chain.admin)

    async def request(self, request_id: str) -> BuildRequestObject:
        info = await self.chain.client.get_object(request_id)
        assert info.contents is not None
        return BuildRequestObject.from_bcs(info.contents)


@contextlib.asynccontextmanager
async def cli_stack(tmp: Path, **standin_args: Any) -> AsyncIterator[CliStack]:
    async with (
        dev_chain(users=2, **standin_args) as chain,
        serve_walrus(max_body_bytes=CAP, seed=3) as walrus,
        WalrusClient(
            aggregator_url=walrus.url,
            publisher_url=walrus.url,
            max_request_bytes=CAP,
            retry=FAST,
            timeout_s=30.0,
            rng=random.Random(0),
        ) as store,
    ):
        yield CliStack(chain, walrus, store, tmp)


async def submit_hello(stack: CliStack) -> str:
    """`daas submit examples/hello --detach` as the user; the request id."""
    done = await run_cli("submit", str(HELLO), "--detach", config=stack.user_config, json=True)
    assert done.returncode == 0, done.stderr
    request_id = done.json_lines()[0]["request_id"]
    assert isinstance(request_id, str)
    return request_id


async def register_debug_enclave(stack: CliStack) -> str:
    """`daas enclave register-debug --allow-debug` as the admin; the enclave id."""
    done = await run_cli(
        "enclave",
        "register-debug",
        "--admin-cap",
        stack.chain.standin.admin_cap_id,
        "--allow-debug",
        config=stack.admin_config,
        json=True,
    )
    assert done.returncode == 0, done.stderr
    enclave_id = done.json()["enclave_id"]
    assert isinstance(enclave_id, str)
    return enclave_id


@dataclasses.dataclass(frozen=True)
class LogLine:
    line_no: int
    stream: str
    text: str


@dataclasses.dataclass(frozen=True)
class CompletedBuild:
    request_id: str
    enclave_id: str
    manifest_digest: str
    index_blob_id: str
    log_blob_id: str
    # Walrus blob ids of each layer's chunks, base first.
    layer_chunks: tuple[tuple[str, ...], ...]
    log_texts: tuple[str, ...]


async def complete_build(stack: CliStack, request_id: str, enclave_id: str) -> CompletedBuild:
    """Build, export and settle `request_id` as a runner would, signed by the local attestor key."""
    request = await stack.request(request_id)
    spec = request.spec
    bundle = await stack.store.read(spec.source_blob_id, expected_sha256=spec.source_sha256)
    runner = RunnerSettings()
    context = stack.tmp / f"context-{request_id[2:10]}"
    unpacked = unpack_bundle(
        bundle,
        context,
        expected_sha256=spec.source_sha256,
        expected_size=len(bundle),
        limits=BundleLimits.from_settings(runner),
        dockerfile=spec.dockerfile_path,
    )
    lines: list[LogLine] = []

    async def on_log_line(stream: LogStream, text: str) -> None:
        lines.append(LogLine(len(lines) + 1, stream, text))

    async with DockerBuildExecutor() as executor:
        built = await executor.build(
            unpacked.context_dir,
            dockerfile=unpacked.dockerfile,
            platform=spec.platform,
            build_args=dict(unpacked.config.build.args),
            target=unpacked.config.build.target,
            limits=BuildLimits.from_settings(runner),
            on_log_line=on_log_line,
        )
        try:
            exporter = ImageExporter(
                stack.store, MemoryLayerCache(), chunk_bytes=CAP, max_image_bytes=1 << 30
            )
            exported = await exporter.export(executor, built)
        finally:
            await executor.remove(built)
    log = await store_build_log(stack.store, lines, max_bytes=CAP)
    attestor = LocalKeyAttestor.load_or_create(stack.enclave_key_file)
    timestamp_ms = int(time.time() * 1000)
    image_digest = bytes.fromhex(exported.manifest_digest.removeprefix("sha256:"))
    payload = BuildSucceededPayload(
        request_id,
        request.spec_digest,
        image_digest,
        exported.index_blob_id,
        log.sha256,
        log.blob_id,
    )
    relayer = stack.chain.submitter(stack.chain.users[1])
    await relayer.submit(
        stack.chain.package.complete(
            request_id,
            enclave_id,
            image_digest=image_digest,
            image_index_blob_id=exported.index_blob_id,
            log_digest=log.sha256,
            log_blob_id=log.blob_id,
            timestamp_ms=timestamp_ms,
            signature=sign_result(attestor, payload, timestamp_ms),
        )
    )
    return CompletedBuild(
        request_id=request_id,
        enclave_id=enclave_id,
        manifest_digest=exported.manifest_digest,
        index_blob_id=exported.index_blob_id,
        log_blob_id=log.blob_id,
        layer_chunks=tuple(tuple(c.blob_id for c in layer.chunks) for layer in exported.layers),
        log_texts=tuple(line.text for line in lines),
    )


# --- the API, and a proxy that cuts connections --------------------------------------------------------


class CuttingProxy:
    """A TCP proxy to `upstream` that cuts the first `cuts` connections after `after_bytes` of answer.

    It keeps each request's head, so a test can see what the client sent when it came back.
    """

    def __init__(self, upstream_port: int, *, cuts: int = 1, after_bytes: int = 2000) -> None:
        self.upstream_port = upstream_port
        self.cuts = cuts
        self.after_bytes = after_bytes
        self.requests: list[bytes] = []
        self.url = ""
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(self.requests)
        self.requests.append(b"")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        limit = self.after_bytes if number < self.cuts else None

        async def client_to_upstream() -> None:
            while data := await reader.read(65536):
                self.requests[number] += data
                up_writer.write(data)
                await up_writer.drain()

        async def upstream_to_client() -> None:
            sent = 0
            while data := await up_reader.read(65536):
                if limit is not None and sent + len(data) >= limit:
                    writer.write(data[: limit - sent])
                    await writer.drain()
                    return  # cut: both sides are closed below, mid-event
                writer.write(data)
                await writer.drain()
                sent += len(data)

        pump = asyncio.ensure_future(client_to_upstream())
        try:
            await upstream_to_client()
        except (ConnectionError, OSError):
            pass
        finally:
            pump.cancel()
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    def last_event_ids(self) -> list[str | None]:
        found: list[str | None] = []
        for head in self.requests:
            value = None
            for line in head.decode("latin-1").split("\r\n"):
                name, _, rest = line.partition(":")
                if name.lower() == "last-event-id":
                    value = rest.strip()
            found.append(value)
        return found


@dataclasses.dataclass
class RunningApi:
    url: str
    port: int
    engine: sa.Engine
    wakeup: notify.Wakeup

    def insert(self, build_id: str) -> None:
        insert_build(self.engine, make_build(build_id))
        self.wakeup.fire()

    def add(self, build_id: str, items: list[tuple[EventKind, dict[str, Any]]]) -> list[int]:
        ids = add_events(self.engine, build_id, items)
        self.wakeup.fire()
        return ids

    def settle(self, build_id: str, status: BuildStatus) -> int:
        event_id = settle(self.engine, build_id, status)
        self.wakeup.fire()
        return event_id


@contextlib.asynccontextmanager
async def running_api(tmp: Path) -> AsyncIterator[RunningApi]:
    """The real API app (`api.app.create_app`) on a fresh SQLite database, served on 127.0.0.1."""
    from api.app import create_app
    from api.deps import HealthPolicy

    engine = create_engine_for(f"sqlite:///{tmp / 'api' / 'daas.db'}")
    upgrade(engine)
    wakeup = notify.Wakeup()
    settings = load_settings(
        data_dir=tmp / "api",
        walrus={"aggregator_url": CLOSED_URL, "publisher_url": CLOSED_URL},
        api={"sse_ping_s": 5, "sse_send_timeout_s": 5},
    )
    app = create_app(
        settings,
        engine=engine,
        notifier=wakeup,
        cross_process_events=False,
        health=HealthPolicy(None, None),
    )
    try:
        async with serve(app) as url:
            yield RunningApi(url, int(url.rsplit(":", 1)[1]), engine, wakeup)
    finally:
        engine.dispose()


def log_event(first: int, count: int) -> tuple[EventKind, dict[str, Any]]:
    """A `log` event as the runner writes it (`runner.buildlog`)."""
    lines = [
        {"line": n, "stream": "stdout", "text": f"log line {n}"}
        for n in range(first, first + count)
    ]
    return EventKind.LOG, {"first_line": first, "last_line": first + count - 1, "lines": lines}


def step_event(step: str, phase: str) -> tuple[EventKind, dict[str, Any]]:
    payload: dict[str, Any] = {"step": step, "phase": phase, "started_ms": 1, "attempt": 1}
    if phase == "finished":
        payload.update(finished_ms=1201, duration_ms=1200, ok=True)
    return EventKind.STEP, payload


def pending_event() -> tuple[EventKind, dict[str, Any]]:
    return EventKind.STATUS, {"status": "pending", "checkpoint": 7, "final": False}
