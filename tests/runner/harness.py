"""The whole pipeline in one test: the Sui stand-in (gRPC), the Walrus stand-in (HTTP), the indexer and runners.

    async with running_stack(engine, tmp_path) as stack:
        async with stack.runner() as service:
            request_id = await stack.request({"Dockerfile": "FROM daas-base:latest\\n"})
            build = await stack.wait_final(request_id)

Everything talks over loopback exactly as in production: the indexer moves chain events into the database
(in-process, firing the runner's wake-up), the runner builds with the real Docker engine. Retries are fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa

from daas.attestation.attestor import LocalKeyAttestor, verify_result
from daas.attestation.registration import ensure_debug_enclave, record_path_for
from daas.bundle import pack_directory
from daas.chain.codecs import (
    BuildFailedPayload,
    BuildRequested,
    BuildRequestObject,
    BuildSpec,
    EnclaveObject,
    RequestStatus,
)
from daas.chain.keys import SuiSigner
from daas.chain.transactions import TransactionSubmitter
from daas.config import Settings, load_settings
from daas.db.engine import session_scope
from daas.db.models import Build, BuildEvent, BuildStatus, BuildStep, EventKind
from daas.db.notify import Wakeup
from daas.db.repos import builds, events
from daas.errors import BuildFailureCode as Code
from daas.walrus import RetryPolicy, WalrusClient
from emulator.sui.standin import MIST_PER_SUI
from emulator.sui.testing import DevChain, dev_chain, dev_signer
from emulator.walrus import RunningWalrus, serve_walrus
from indexer.ingestion import IngestionConfig
from indexer.service import Indexer
from runner.periodic import PeriodicOptions
from runner.pipeline import PipelineOptions
from runner.service import RunnerOptions, RunnerService, open_runner

FEE = 10_000_000
CAP = 256 * 1024  # a small publisher cap, so images are stored in many chunks
BASE_IMAGE = "daas-base:latest"
FAST_WALRUS = RetryPolicy(retries=10, base_delay_s=0.01, max_delay_s=0.1)
FAST_INGESTION = IngestionConfig(reconnect_initial_s=0.01, reconnect_max_s=0.05)
PROJECT = Path(__file__).resolve().parents[2]

FAST_OPTIONS = RunnerOptions(
    grace_period_s=5.0,
    heartbeat_s=1.0,
    notify_poll_s=0.05,
    pipeline=PipelineOptions(retry_backoff_s=0.1, retry_backoff_max_s=0.2, submit_timeout_s=60),
    periodic=PeriodicOptions(reconcile_interval_s=3600, cleanup_interval_s=3600),
)


def dockerfile(*lines: str) -> str:
    return "\n".join([f"FROM {BASE_IMAGE}", *lines]) + "\n"


@dataclasses.dataclass
class Stack:
    chain: DevChain
    walrus: RunningWalrus
    store: WalrusClient
    engine: sa.Engine
    tmp: Path
    changes: Wakeup
    indexer: Indexer
    runner_settings: dict[str, Any]
    enclave_admin_cap: str
    admin: TransactionSubmitter  # the one submitter for the admin's key (it tracks the gas coin)

    # --- requests ---------------------------------------------------------------------------------------

    def pack(self, files: Mapping[str, str | bytes], *, dockerfile: str = "Dockerfile") -> bytes:
        root = self.tmp / f"ctx-{time.monotonic_ns()}"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        with pack_directory(root, dockerfile=dockerfile) as packed:
            return packed.read_bytes()

    async def request(
        self,
        files: Mapping[str, str | bytes] | None = None,
        *,
        bundle: bytes | None = None,
        blob_id: str | None = None,
        sha256: bytes | None = None,
        dockerfile: str = "Dockerfile",
        platform: str = "linux/amd64",
        user: int = 0,
    ) -> str:
        """Store a bundle (packed from `files`, or given) on Walrus and request its build; the request id."""
        if bundle is None and blob_id is None:
            bundle = self.pack(files or {}, dockerfile=dockerfile)
        if blob_id is None:
            assert bundle is not None
            blob_id = (await self.store.store(bundle)).blob_id
        digest = sha256 or hashlib.sha256(bundle or b"").digest()
        spec = BuildSpec(blob_id, digest, dockerfile, platform)
        submitter = self.chain.submitter(self.chain.users[user])
        result = await submitter.submit(self.chain.package.request_build(spec, FEE))
        (event,) = [e for e in result.decoded_events() if isinstance(e, BuildRequested)]
        return event.request_id

    # --- observing ---------------------------------------------------------------------------------------

    def build(self, request_id: str) -> Build | None:
        with session_scope(self.engine) as session:
            return builds.get(session, request_id)

    async def wait_for(
        self, request_id: str, predicate: Callable[[Build], bool], *, timeout_s: float = 90
    ) -> Build:
        with anyio.fail_after(timeout_s):
            while True:
                build = await anyio.to_thread.run_sync(self.build, request_id)
                if build is not None and predicate(build):
                    return build
                await anyio.sleep(0.05)

    async def wait_final(self, request_id: str, *, timeout_s: float = 90) -> Build:
        """The build once the indexer saw its final status and the runner is done with it."""
        return await self.wait_for(
            request_id,
            lambda b: b.status.is_final and b.lease_owner is None,
            timeout_s=timeout_s,
        )

    async def on_chain(self, request_id: str) -> BuildRequestObject:
        info = await self.chain.client.get_object(request_id)
        assert info.contents is not None
        return BuildRequestObject.from_bcs(info.contents)

    def events(self, request_id: str, kind: EventKind | None = None) -> list[BuildEvent]:
        with session_scope(self.engine) as session:
            found = events.list_after(session, build_id=request_id, limit=10_000)
        return [e for e in found if kind is None or e.kind is kind]

    def result_event(self, request_id: str) -> dict[str, Any]:
        """The payload of the indexer's `result` event (fees, refund, error code)."""
        (event,) = self.events(request_id, EventKind.RESULT)
        return event.payload

    def steps(self, request_id: str, phase: str = "started") -> list[str]:
        """Step names in order, from the step events of one phase (`done`/`queued` ends included)."""
        names = []
        for event in self.events(request_id, EventKind.STEP):
            payload = event.payload
            if payload.get("phase", phase) == phase or payload["step"] in ("done", "queued"):
                names.append(payload["step"])
        return names

    def step_payload(
        self, request_id: str, step: BuildStep, phase: str = "finished"
    ) -> dict[str, Any]:
        for event in reversed(self.events(request_id, EventKind.STEP)):
            if event.payload.get("step") == step.value and event.payload.get("phase") == phase:
                return event.payload
        raise AssertionError(f"no {phase} {step.value} event for {request_id}")

    # --- runners -----------------------------------------------------------------------------------------

    def settings_for(self, name: str, **runner: Any) -> Settings:
        """Settings of a runner called `name`: its own Sui key (funded) and its own enclave key file."""
        signer = dev_signer(f"runner-{name}")
        return load_settings(
            data_dir=self.tmp / f"data-{name}",
            database_url=self.engine.url.render_as_string(hide_password=False),
            log_level="INFO",
            chain={
                "grpc_url": self.chain.standin.url,
                "chain_id": self.chain.standin.chain_id,
                "package_id": self.chain.standin.package_id,
                "registry_id": self.chain.standin.registry_id,
                "enclave_config_id": self.chain.standin.enclave_config_id,
            },
            walrus={
                "publisher_url": self.walrus.url,
                "aggregator_url": self.walrus.url,
                "max_request_bytes": CAP,
            },
            keys={
                "sui_private_key": signer.to_bech32(),
                "enclave_key_file": self.tmp / f"enclave-{name}.key",
            },
            runner={**self.runner_settings, "runner_id": f"runner-{name}", **runner},
        )

    async def prepare_runner(self, settings: Settings) -> SuiSigner:
        """Fund the runner's key and register its enclave key as a debug enclave (as the dev setup does)."""
        signer = SuiSigner.from_bech32(settings.keys.sui_private_key.get_secret_value())  # type: ignore[union-attr]
        self.chain.standin.fund(signer.address, 50 * MIST_PER_SUI)
        key = LocalKeyAttestor.load_or_create(settings.enclave_key_file)
        await ensure_debug_enclave(
            self.chain.client,
            self.admin,
            self.chain.package,
            admin_cap_id=self.enclave_admin_cap,
            attestor=key,
            chain_id=self.chain.standin.chain_id,
            record_path=record_path_for(settings.enclave_key_file),
        )
        return signer

    @contextlib.asynccontextmanager
    async def service(
        self, name: str = "a", *, options: RunnerOptions = FAST_OPTIONS, **runner: Any
    ) -> AsyncIterator[RunnerService]:
        """A runner ready to run (or to have its periodic jobs called one by one), not started."""
        settings = self.settings_for(name, **runner)
        await self.prepare_runner(settings)
        async with open_runner(
            settings,
            engine=self.engine,
            changes=self.changes,
            options=options,
            chain_retry=self.chain.client.retry,
            walrus_retry=FAST_WALRUS,
        ) as service:
            yield service

    @contextlib.asynccontextmanager
    async def runner(
        self, name: str = "a", *, options: RunnerOptions = FAST_OPTIONS, **runner: Any
    ) -> AsyncIterator[RunnerService]:
        """A runner serving in this process until the block ends (then stopped at once)."""
        async with (
            self.service(name, options=options, **runner) as service,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(service.run, name=f"runner {name}")
            with anyio.fail_after(30):
                await service.started.wait()
            try:
                yield service
            finally:
                service.request_stop(now=True)

    # --- a runner in another process ---------------------------------------------------------------------

    def write_config(self, settings: Settings) -> Path:
        """A TOML file with `settings` (what `daas -c FILE runner` reads)."""
        data = settings.model_dump(mode="json", exclude_none=True)
        data["keys"]["sui_private_key"] = settings.keys.sui_private_key.get_secret_value()  # type: ignore[union-attr]
        path = self.tmp / f"{settings.runner.runner_id}.toml"
        path.write_text(_toml(data))
        return path

    def spawn_runner(
        self, settings: Settings, log_file: Path, *options: str
    ) -> subprocess.Popen[bytes]:
        """`daas -c FILE runner --log-format json [options]` in its own process group."""
        config = self.write_config(settings)
        command = ["-m", "daas.cli", "-c", str(config), "runner", "--log-format", "json"]
        with log_file.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, *command, *options],
                cwd=PROJECT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(PROJECT)},
                start_new_session=True,
            )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def _toml(data: Mapping[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict) and values:
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"


def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@contextlib.asynccontextmanager
async def running_stack(
    engine: sa.Engine,
    tmp: Path,
    *,
    lease_s: int = 5,
    max_attempts: int = 3,
    memory_mb: int = 256,
    build_timeout_s: int = 60,
    **runner: Any,
) -> AsyncIterator[Stack]:
    """Chain and Walrus stand-ins, an indexer writing into `engine`, and a debug-enclave-ready registry."""
    async with (
        dev_chain(users=2, checkpoint_interval_s=0.05) as chain,
        serve_walrus(storage_dir=tmp / "walrus", max_body_bytes=CAP) as walrus,
        WalrusClient(
            aggregator_url=walrus.url,
            publisher_url=walrus.url,
            max_request_bytes=CAP,
            retry=FAST_WALRUS,
        ) as store,
    ):
        admin = chain.submitter(chain.admin)
        cap = chain.standin.admin_cap_id
        await admin.submit(chain.package.set_allow_debug(cap, True))
        settings = load_settings(
            database_url=engine.url.render_as_string(hide_password=False),
            chain={
                "grpc_url": chain.standin.url,
                "package_id": chain.standin.package_id,
                "chain_id": chain.standin.chain_id,
            },
            indexer={"progress_interval_s": 60.0},
        )
        changes = Wakeup()
        indexer = Indexer(
            settings, engine=engine, source=chain.client, wakeup=changes, ingestion=FAST_INGESTION
        )
        stop = asyncio.Event()
        runner_settings = {
            "lease_s": lease_s,
            "max_attempts": max_attempts,
            "memory_mb": memory_mb,
            "build_timeout_s": build_timeout_s,
            "poll_interval_s": 0.5,
            **runner,
        }
        async with anyio.create_task_group() as tg:
            tg.start_soon(indexer.run, stop, name="indexer")
            try:
                yield Stack(
                    chain, walrus, store, engine, tmp, changes, indexer, runner_settings, cap, admin
                )
            finally:
                stop.set()


async def check_failed(stack: Stack, request_id: str, code: Code) -> None:
    """FAILED on chain with `code`, the signature verifies, the log blob holds the reason."""
    build = await stack.wait_final(request_id)
    assert (build.status, build.error_code, build.step) == (
        BuildStatus.FAILED,
        int(code),
        BuildStep.DONE,
    ), f"{request_id}: {build.error_message}"
    request = await stack.on_chain(request_id)
    assert request.status == RequestStatus.FAILED and request.result is not None
    result = request.result
    payload = BuildFailedPayload(
        request_id, request.spec_digest, result.error_code, result.log_digest, result.log_blob_id
    )
    info = await stack.chain.client.get_object(result.enclave_id)
    assert info.contents is not None
    pk = EnclaveObject.from_bcs(info.contents).pk
    assert verify_result(pk, payload, result.timestamp_ms, result.signature)
    log_bytes = await stack.store.read(result.log_blob_id, expected_sha256=result.log_digest)
    texts = [json.loads(line)["text"] for line in log_bytes.splitlines()]
    assert any(t.startswith(f"build failed: {code.name} ({int(code)})") for t in texts)
    event = stack.result_event(request_id)
    if code.is_requester_fault:
        assert (event["fee_paid"], event["refunded"]) == (FEE, 0)
    else:
        assert (event["fee_paid"], event["refunded"]) == (0, FEE)
