"""`SuiStandIn`: a local Sui fullnode for tests and `daas dev`, speaking real gRPC on 127.0.0.1.

    async with SuiStandIn(funded={alice.address: 10 * SUI}) as node:
        async with SuiClient(node.url, expected_chain_id=node.chain_id) as client:
            ...

It runs a `SuiNode` (ledger and package model) behind `NodeService` (grpclib) and cuts a checkpoint on a
timer (default every 250 ms, empty ones included, as a real chain does). One task group holds the timer; the
server's request handlers belong to grpclib. With a `state_file` every ledger operation is appended to an
SQLite log and replayed on the next start, so chain id, objects and checkpoints survive a restart.

`run()` is the blocking entry point behind `daas emulator sui`: it prints one JSON line describing the chain
(URL, chain id, package and object ids, admin address) and serves until interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from grpclib.server import Server

from daas.chain.bcs import normalize_address
from daas.chain.hashing import blake2b256
from daas.chain.keys import SuiSigner, write_keystore
from emulator.sui.clock import NodeClock, wall_ms
from emulator.sui.effects import CheckpointRecord
from emulator.sui.nitro import NitroLoader, nitro_loader
from emulator.sui.node import GenesisConfig, SuiNode
from emulator.sui.objects import NodeObject
from emulator.sui.oplog import OpLog
from emulator.sui.service import Faults, NodeService
from emulator.sui.types import CLOCK_ID, PackageModel

log = logging.getLogger(__name__)

MIST_PER_SUI = 1_000_000_000
DEFAULT_CHECKPOINT_INTERVAL_S = 0.25

ModelFactory = Callable[[str], PackageModel]


def _default_model(package_id: str) -> PackageModel:
    from emulator.sui.model import DaasModel  # the other half of the emulator, imported on use

    return DaasModel(package_id)


def dev_admin_signer(seed: str) -> SuiSigner:
    """The deterministic admin key of a chain started without an admin address (development only)."""
    return SuiSigner.from_seed(blake2b256(b"daas-standin-admin::" + seed.encode()))


class SuiStandIn:
    """A running stand-in fullnode. `start()`/`stop()` from one task, or `async with`."""

    def __init__(
        self,
        *,
        funded: Mapping[str, int] | Sequence[tuple[str, int]] = (),
        admin_address: str | None = None,
        seed: str | None = None,
        state_file: Path | str | None = None,
        checkpoint_interval_s: float | None = DEFAULT_CHECKPOINT_INTERVAL_S,
        reference_gas_price: int = 1_000,
        clock_source: Callable[[], int] = wall_ms,
        faults: Faults | None = None,
        subscriber_buffer: int = 256,
        nitro_root_der: bytes | None = None,
        nitro: NitroLoader | None = None,
        model_factory: ModelFactory = _default_model,
    ) -> None:
        """`checkpoint_interval_s=None` disables the timer (tests then call `cut_checkpoint`).

        `nitro_root_der` is the root certificate `load_nitro_attestation` trusts (default: the pinned AWS
        root); `nitro` replaces the whole loader.
        """
        self.seed = seed or secrets.token_hex(16)
        funded_items = funded.items() if isinstance(funded, Mapping) else funded
        self._funded = tuple((normalize_address(a), int(n)) for a, n in funded_items)
        self.admin_signer: SuiSigner | None = None
        if admin_address is None:
            self.admin_signer = dev_admin_signer(self.seed)
            admin_address = self.admin_signer.address
        self._admin_address = normalize_address(admin_address)
        self.state_file = Path(state_file) if state_file is not None else None
        self.checkpoint_interval_s = checkpoint_interval_s
        self._reference_gas_price = reference_gas_price
        self.clock = NodeClock(clock_source)
        self._faults = faults or Faults()
        self._subscriber_buffer = subscriber_buffer
        self._nitro = nitro if nitro is not None else nitro_loader(nitro_root_der)
        self._model_factory = model_factory
        self._node: SuiNode | None = None
        self._service: NodeService | None = None
        self._server: Server | None = None
        self._oplog: OpLog | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._timer: asyncio.Task[None] | None = None
        self._new_checkpoint = asyncio.Condition()
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> SuiStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Open (or replay) the ledger and serve gRPC on `host:port` (0: any free port). Returns the URL."""
        if self._server is not None:
            raise RuntimeError("the stand-in is already running")
        node = self._open_node()
        self._service = NodeService(
            node, faults=self._faults, subscriber_buffer=self._subscriber_buffer
        )
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP, and without it every unary call waits ~40 ms on Nagle and delayed ACKs.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self._server = Server([self._service])
        await self._server.start(sock=sock)
        bound = sock.getsockname()[1]
        self.url = f"http://{host}:{bound}"
        self._stack = contextlib.AsyncExitStack()
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        if self.checkpoint_interval_s is not None:
            self._timer = group.create_task(self._cut_loop(), name="sui-standin-checkpoints")
        log.info("Sui stand-in %s serving chain %s", self.url, node.chain_id)
        return self.url

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        if self._service is not None:
            self._service.close_subscriptions()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
        if self._oplog is not None:
            self._oplog.close()
            self._oplog = None

    def _open_node(self) -> SuiNode:
        oplog = OpLog(self.state_file) if self.state_file is not None else None
        node = SuiNode(
            self._model_factory,
            clock=self.clock,
            nitro=self._nitro,
            on_op=oplog.append if oplog is not None else None,
        )
        if oplog is not None and not oplog.is_empty():
            for kind, body in oplog.read():
                node.replay(kind, body)
            genesis = node.genesis_config
            if genesis.seed != self.seed or genesis.admin_address != self._admin_address:
                log.info("continuing chain %s from %s", node.chain_id, self.state_file)
            self.seed = genesis.seed
            self._admin_address = genesis.admin_address
            self.admin_signer = (
                dev_admin_signer(genesis.seed)
                if dev_admin_signer(genesis.seed).address == genesis.admin_address
                else None
            )
        else:
            node.genesis(
                GenesisConfig(
                    admin_address=self._admin_address,
                    seed=self.seed,
                    funded=self._funded,
                    reference_gas_price=self._reference_gas_price,
                )
            )
        self._oplog = oplog
        self._node = node
        return node

    async def _cut_loop(self) -> None:
        assert self.checkpoint_interval_s is not None
        while True:
            await asyncio.sleep(self.checkpoint_interval_s)
            await self._cut()

    async def _cut(self) -> CheckpointRecord:
        checkpoint = self.node.cut_checkpoint()
        if self._service is not None:
            self._service.publish(checkpoint)
        async with self._new_checkpoint:
            self._new_checkpoint.notify_all()
        return checkpoint

    # --- the Python API for tests ------------------------------------------------------------------------

    @property
    def node(self) -> SuiNode:
        if self._node is None:
            raise RuntimeError("the stand-in is not started")
        return self._node

    @property
    def service(self) -> NodeService:
        if self._service is None:
            raise RuntimeError("the stand-in is not started")
        return self._service

    @property
    def chain_id(self) -> str:
        return self.node.chain_id

    @property
    def package_id(self) -> str:
        return self.node.package_id

    @property
    def registry_id(self) -> str:
        return _required(self.node.registry_id, "Registry")

    @property
    def enclave_config_id(self) -> str:
        return _required(self.node.enclave_config_id, "EnclaveConfig")

    @property
    def admin_cap_id(self) -> str:
        return _required(self.node.admin_cap_id, "AdminCap")

    @property
    def admin_address(self) -> str:
        return self._admin_address

    def advance_clock(self, ms: int) -> int:
        """Move the node's clock forward (e.g. past a request's deadline); returns the new time."""
        return self.clock.advance(ms)

    def fund(self, address: str, amount: int) -> str:
        """Give `address` a new coin of `amount` MIST (in the next checkpoint); returns its id."""
        record = self.node.fund(address, amount)
        return next(c.object_id for c in record.changes)

    async def cut_checkpoint(self) -> CheckpointRecord:
        """Cut a checkpoint now (also works with the timer off)."""
        return await self._cut()

    async def wait_for_checkpoint(self, sequence_number: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s), self._new_checkpoint:
            await self._new_checkpoint.wait_for(
                lambda: self.node.latest_checkpoint.sequence_number >= sequence_number
            )

    def prune_below(self, sequence_number: int) -> None:
        self.node.prune_below(sequence_number)

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the fault settings (`set_faults(unavailable_rate=0.3, seed=1)`); returns them."""
        faults = dataclasses.replace(faults or Faults(), **changes)
        self._faults = faults
        if self._service is not None:
            self._service.set_faults(faults)
        return faults

    def coins(self, owner: str) -> list[NodeObject]:
        return self.node.coins(owner)

    def info(self) -> dict[str, Any]:
        """What `run()` prints: everything a client needs to point at this chain."""
        return {
            "grpc_url": self.url,
            "chain_id": self.chain_id,
            "package_id": self.package_id,
            "registry_id": self.registry_id,
            "enclave_config_id": self.enclave_config_id,
            "admin_address": self.admin_address,
            "admin_cap_id": self.admin_cap_id,
            "clock_id": CLOCK_ID,
            "reference_gas_price": self.node.reference_gas_price,
            "checkpoint_interval_ms": (
                None
                if self.checkpoint_interval_s is None
                else int(self.checkpoint_interval_s * 1000)
            ),
            "state_file": str(self.state_file) if self.state_file else None,
        }


def _required(value: str | None, what: str) -> str:
    if value is None:
        raise RuntimeError(f"the chain has no {what}")
    return value


def run(
    port: int = 9000,
    state_file: Path | str | None = None,
    *,
    host: str = "127.0.0.1",
    funded: Mapping[str, int] | Sequence[tuple[str, int]] = (),
    admin_address: str | None = None,
    seed: str | None = None,
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
    nitro_root_der: bytes | None = None,
    out: TextIO | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve a stand-in until SIGINT/SIGTERM, after printing ONE JSON line about the chain.

    Without `admin_address` the chain's admin is a development key derived from the seed; it is written
    (mode 0600) to a Sui keystore next to the state file (or in a temporary directory) and the line names
    it as `admin_keystore`. `on_ready`, if given, receives that information instead of it being printed.
    """
    asyncio.run(
        _serve(
            port,
            state_file,
            host=host,
            funded=funded,
            admin_address=admin_address,
            seed=seed,
            checkpoint_interval_s=checkpoint_interval_s,
            nitro_root_der=nitro_root_der,
            out=out or sys.stdout,
            on_ready=on_ready,
        )
    )


async def _serve(
    port: int,
    state_file: Path | str | None,
    *,
    host: str,
    funded: Mapping[str, int] | Sequence[tuple[str, int]],
    admin_address: str | None,
    seed: str | None,
    checkpoint_interval_s: float,
    nitro_root_der: bytes | None,
    out: TextIO,
    on_ready: Callable[[dict[str, Any]], None] | None,
) -> None:
    standin = SuiStandIn(
        funded=funded,
        admin_address=admin_address,
        seed=seed,
        state_file=state_file,
        checkpoint_interval_s=checkpoint_interval_s,
        nitro_root_der=nitro_root_der,
    )
    await standin.start(host, port)
    try:
        info = standin.info()
        if standin.admin_signer is not None:
            folder = (
                Path(state_file).parent
                if state_file is not None
                else Path(tempfile.mkdtemp(prefix="daas-sui-"))
            )
            keystore = folder / f"admin-{standin.chain_id[:8]}.keystore"
            write_keystore(keystore, [standin.admin_signer])
            info["admin_keystore"] = str(keystore)
        if on_ready is not None:
            on_ready(info)
        else:
            out.write(json.dumps(info, sort_keys=True) + "\n")
            out.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await standin.stop()
