"""`SuiClient`: our one door to a Sui fullnode, over pysui's gRPC client (`sui.rpc.v2`).

This module is the boundary: pysui, betterproto2 and grpclib types and exceptions stop here. Everything
above sees the values of `daas.chain.types` and the errors of `daas.errors` (mapped once, by
`map_grpc_errors`).

- pysui 1.5.1 always opens a TLS channel; for `http://` URLs (local nodes, the stand-in) the channel is
  replaced by a plaintext one, for `https://` by a TLS channel on the URL's port (443 by default).
- On connect the node's chain id (`GetServiceInfo`) must equal the expected one, else `ChainIdMismatch`.
- Unary calls are retried with backoff on transient faults (UNAVAILABLE, DEADLINE_EXCEEDED, connection
  errors). `ExecuteTransaction` is retried too, with the *same signed bytes*: Sui executes a transaction
  digest at most once and answers a repeat with the first result, so a retry cannot execute twice. When
  every attempt fails the outcome is unknown and `OutcomeUnknown` says so.
- Read masks name only the fields we decode (the node's default for checkpoints is everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import logging
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pysui.sui.sui_grpc.pgrpc_requests as rn
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from pysui import PysuiConfiguration
from pysui.sui.sui_common.config.confgroup import GroupProtocol, NetworkType
from pysui.sui.sui_grpc.pgrpc_clients import GrpcProtocolClient

from daas.chain.bcs import normalize_address
from daas.chain.grpc_errors import (
    map_grpc_errors,
)
from daas.chain.hashing import transaction_digest_b58
from daas.chain.keys import SuiSigner
from daas.chain.ports import CHECKPOINT_EVENTS_MASK
from daas.chain.types import (
    ChainEvent,
    ChangedObject,
    ChangeKind,
    Checkpoint,
    CheckpointTransaction,
    Coin,
    ExecutionResult,
    GasCost,
    MoveAbortInfo,
    ObjectInfo,
    ObjectRef,
    OwnerKind,
    ServiceInfo,
)
from daas.config import Settings
from daas.errors import (
    ChainError,
    ChainIdMismatch,
    ChainUnavailable,
    CheckpointPruned,
    CodecError,
    ObjectNotFound,
    OutcomeUnknown,
    TransactionRejected,
)

log = logging.getLogger(__name__)

OBJECT_MASK = (
    "object_id",
    "version",
    "digest",
    "owner",
    "object_type",
    "contents",
    "balance",
    "previous_transaction",
)
COIN_MASK = ("object_id", "version", "digest", "balance")
EXECUTE_MASK = (
    "digest",
    "effects.status",
    "effects.gas_object",
    "effects.gas_used",
    "effects.changed_objects",
    "effects.lamport_version",
    "events.events.event_type",
    "events.events.contents",
    "events.events.sender",
    "events.events.package_id",
    "events.events.module",
    "checkpoint",
)
SUI_COIN_TYPE = "0x2::coin::Coin<0x2::sui::SUI>"
_PAGE_SIZE = 200
_BATCH_LIMIT = 50  # pysui refuses larger BatchGetObjects requests


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient faults: `attempts` tries in all."""

    attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


# --- error mapping: see daas.chain.grpc_errors -------------------------------------------------------


def _unwrap(result: Any) -> Any:
    """The data of a pysui `SuiRpcResult`, or the error it hides re-raised as a `GRPCError`."""
    if result.is_ok():
        return result.result_data
    detail = result.result_string
    # pysui stores GRPCError.args, i.e. (status, message, details), where a string is documented.
    if isinstance(detail, tuple) and detail and isinstance(detail[0], Status):
        message = detail[1] if len(detail) > 1 and isinstance(detail[1], str) else None
        raise GRPCError(detail[0], message)
    raise ChainError(f"the node's answer could not be read: {detail}")


# --- the client -----------------------------------------------------------------------------------------


class SuiClient:
    """A connection to one Sui fullnode. Use as `async with SuiClient(...) as client:`.

    Implements `ChainSource` and `ChainWriter`. `package_id` (our package) lets results carry decoded events.
    """

    def __init__(
        self,
        url: str,
        *,
        expected_chain_id: str | None = None,
        chain_id_setting: str = "chain.chain_id",
        api_token: str | None = None,
        timeout_s: float = 30.0,
        package_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"{url!r} is not an http:// or https:// gRPC URL")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = parts.scheme == "https"
        self.expected_chain_id = expected_chain_id
        self._chain_id_setting = chain_id_setting
        self._api_token = api_token
        self._timeout_s = timeout_s
        self.package_id = normalize_address(package_id) if package_id else None
        self.retry = retry or RetryPolicy()
        self._grpc: GrpcProtocolClient | None = None
        self.chain_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, url: str | None = None) -> SuiClient:
        """From `Settings`; `url` overrides `settings.grpc_url` (e.g. the archive endpoint)."""
        token = settings.chain.api_token
        if settings.chain.chain_id:
            setting = "chain.chain_id"
        else:
            setting = f"the {settings.network.value} network preset"
        return cls(
            url or settings.grpc_url,
            expected_chain_id=settings.expected_chain_id,
            chain_id_setting=setting,
            api_token=token.get_secret_value() if token else None,
            timeout_s=settings.chain.request_timeout_s,
            package_id=settings.chain.package_id,
        )

    def __repr__(self) -> str:
        return f"SuiClient(url={self.url!r}, chain_id={self.chain_id!r})"

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> SuiClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> ServiceInfo:
        """Open the channel and check the chain id. Idempotent."""
        if self._grpc is None:
            # pysui logs every failed unary call as an ERROR traceback; we map and log failures ourselves.
            logging.getLogger("pgrpc_client").setLevel(logging.CRITICAL)
            self._grpc = _open_pysui_client(self.url, self._api_token)
            self._grpc._channel.close()
            self._grpc._channel = Channel(
                host=self._host, port=self._port, ssl=True if self._tls else None
            )
        try:
            info = await self.service_info()
        except BaseException:
            await self.close()
            raise
        if self.expected_chain_id is not None and info.chain_id != self.expected_chain_id:
            await self.close()
            raise ChainIdMismatch(
                f"the node at {self.url} serves chain {info.chain_id}, but "
                f"{self._chain_id_setting} expects {self.expected_chain_id}: "
                "point chain.grpc_url at a node of that network, or fix the network setting"
            )
        self.chain_id = info.chain_id
        log.info(
            "connected to %s (chain %s, tip %s)", self.url, info.chain_id, info.checkpoint_height
        )
        return info

    async def close(self) -> None:
        grpc, self._grpc = self._grpc, None
        if grpc is not None:
            await grpc.close()

    def _client(self) -> GrpcProtocolClient:
        if self._grpc is None:
            raise ChainError("SuiClient is not connected: use `async with SuiClient(...)`")
        return self._grpc

    # --- plumbing ----------------------------------------------------------------------------------------

    async def _call_once(self, request: Any, what: str, **mapping: Any) -> Any:
        with map_grpc_errors(what, **mapping):
            result = await self._client().execute_grpc_request(
                request=request, timeout=self._timeout_s
            )
            return _unwrap(result)

    async def _unary(self, make_request: Callable[[], Any], what: str, **mapping: Any) -> Any:
        """One unary call, retried on `ChainUnavailable` per the retry policy."""
        return await self._retrying(lambda: self._call_once(make_request(), what, **mapping), what)

    async def _retrying(self, attempt: Callable[[], Awaitable[Any]], what: str) -> Any:
        for number in range(self.retry.attempts):
            try:
                return await attempt()
            except ChainUnavailable as exc:
                if number + 1 >= self.retry.attempts:
                    raise
                delay = self.retry.delay(number)
                log.warning("%s (attempt %d, retrying in %.2fs)", exc, number + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    # --- ChainSource -------------------------------------------------------------------------------------

    async def service_info(self) -> ServiceInfo:
        response = await self._unary(rn.GetServiceInfo, "GetServiceInfo")
        if not response.chain_id:
            raise ChainError(f"the node at {self.url} did not report a chain id")
        return ServiceInfo(
            chain_id=response.chain_id,
            chain=response.chain,
            epoch=response.epoch,
            checkpoint_height=response.checkpoint_height,
            lowest_available_checkpoint=response.lowest_available_checkpoint,
            timestamp_ms=_ms(response.timestamp),
            server=response.server,
        )

    async def get_checkpoint(
        self,
        sequence_number: int | None = None,
        *,
        read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK,
    ) -> Checkpoint:
        mask = list(read_mask)
        what = f"GetCheckpoint({'latest' if sequence_number is None else sequence_number})"

        def request() -> Any:
            if sequence_number is None:
                return rn.GetLatestCheckpoint(field_mask=mask)
            return rn.GetCheckpointBySequence(sequence_number=sequence_number, field_mask=mask)

        try:
            response = await self._unary(request, what, not_found=ObjectNotFound)
        except ObjectNotFound as exc:
            raise await self._checkpoint_missing(sequence_number) from exc
        return self._checkpoint(response.checkpoint, sequence_number)

    async def _checkpoint_missing(self, sequence_number: int | None) -> ChainError:
        info = await self.service_info()
        lowest = info.lowest_available_checkpoint
        if sequence_number is not None and lowest is not None and sequence_number < lowest:
            return CheckpointPruned(
                f"checkpoint {sequence_number} is pruned on {self.url} (lowest available: {lowest}); "
                "set chain.archive_grpc_url to an archival node to read it"
            )
        return ChainError(
            f"checkpoint {sequence_number} is not on {self.url} yet "
            f"(its tip is {info.checkpoint_height})"
        )

    async def subscribe_checkpoints(
        self, *, read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK
    ) -> AsyncIterator[Checkpoint]:
        what = "SubscribeCheckpoints"
        with map_grpc_errors(what):
            # Streams get no timeout: they live as long as the node keeps them.
            result = await self._client().execute_grpc_request(
                request=rn.SubscribeCheckpoints(field_mask=list(read_mask))
            )
            stream = _unwrap(result)
        try:
            while True:
                with map_grpc_errors(what):
                    try:
                        frame = await stream.__anext__()
                    except StopAsyncIteration:
                        log.info("checkpoint stream from %s ended", self.url)
                        return
                if frame.checkpoint is not None:
                    yield self._checkpoint(frame.checkpoint, frame.cursor)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    # --- ChainWriter -------------------------------------------------------------------------------------

    async def reference_gas_price(self) -> int:
        response = await self._unary(
            lambda: rn.GetEpoch(field_mask=["epoch", "reference_gas_price"]), "GetEpoch"
        )
        if response.epoch is None or response.epoch.reference_gas_price is None:
            raise ChainError(f"the node at {self.url} did not report a reference gas price")
        return int(response.epoch.reference_gas_price)

    async def get_object(self, object_id: str) -> ObjectInfo:
        object_id = normalize_address(object_id)
        response = await self._unary(
            lambda: rn.GetObject(object_id=object_id, field_mask=list(OBJECT_MASK)),
            f"GetObject({object_id})",
            not_found=ObjectNotFound,
        )
        if response.object is None:
            raise ObjectNotFound(f"object {object_id} not found")
        return _object_info(response.object)

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectInfo]:
        """The objects in the order asked; `ObjectNotFound` naming every id that does not exist."""
        ids = [normalize_address(i) for i in object_ids]
        found: list[ObjectInfo] = []
        missing: list[str] = []
        for start in range(0, len(ids), _BATCH_LIMIT):
            page = ids[start : start + _BATCH_LIMIT]
            response = await self._unary(
                functools.partial(
                    rn.GetMultipleObjects, object_ids=page, field_mask=list(OBJECT_MASK)
                ),
                f"BatchGetObjects({len(page)} ids)",
            )
            for object_id, result in zip(page, response.objects, strict=False):
                if result.object is not None:
                    found.append(_object_info(result.object))
                else:
                    missing.append(object_id)
            if len(response.objects) < len(page):
                missing.extend(page[len(response.objects) :])
        if missing:
            raise ObjectNotFound(f"objects not found: {', '.join(missing)}")
        return found

    async def list_gas_coins(self, owner: str) -> list[Coin]:
        owner = normalize_address(owner)
        coins: list[Coin] = []
        token: bytes | None = None
        while True:
            response = await self._unary(
                functools.partial(
                    rn.GetGas,
                    owner=owner,
                    field_mask=list(COIN_MASK),
                    page_size=_PAGE_SIZE,
                    page_token=token,
                ),
                f"ListOwnedObjects({owner})",
            )
            for obj in response.objects:
                ref = ObjectRef(normalize_address(obj.object_id), int(obj.version), obj.digest)
                coins.append(Coin(ref, int(obj.balance or 0)))
            token = response.next_page_token
            if not token:
                return coins

    async def get_balance(self, owner: str) -> int:
        """Total SUI of `owner` (coins plus address balance), in MIST."""
        owner = normalize_address(owner)
        response = await self._unary(
            lambda: rn.GetAddressCoinBalance(owner=owner, coin_type="0x2::sui::SUI"),
            f"GetBalance({owner})",
        )
        if response.balance is None:
            return 0
        return int(response.balance.balance or 0)

    async def execute(self, tx_bytes: bytes, signatures: Sequence[str]) -> ExecutionResult:
        digest = transaction_digest_b58(tx_bytes)
        what = f"ExecuteTransaction({digest})"

        def rejected(text: str) -> ChainError:
            return TransactionRejected(text, digest=digest)

        def attempt() -> Awaitable[Any]:
            request = rn.ExecuteTransaction(
                tx_bytestr=tx_bytes, sig_array=list(signatures), field_mask=list(EXECUTE_MASK)
            )
            return self._call_once(request, what, rejected=rejected)

        try:
            # Resubmitting the same signed bytes is idempotent on Sui (see the module docstring).
            executed = await self._retrying(attempt, what)
        except OutcomeUnknown:
            raise
        except ChainUnavailable as exc:
            raise OutcomeUnknown(
                f"{exc}; transaction {digest} may or may not have executed: "
                "resubmit the same bytes to learn its result",
                digest=digest,
            ) from exc
        if executed is None:
            raise ChainError(f"{what}: the node returned no transaction")
        return self._execution_result(executed, digest)

    async def sign_and_execute(self, signer: SuiSigner, tx_bytes: bytes) -> ExecutionResult:
        return await self.execute(tx_bytes, [signer.sign_transaction(tx_bytes)])

    # --- decoding ----------------------------------------------------------------------------------------

    def _event(self, event: Any, index: int) -> ChainEvent:
        contents = event.contents.value if event.contents is not None else None
        chain_event = ChainEvent(
            event_type=event.event_type or "",
            contents=contents or b"",
            index=index,
            sender=event.sender,
            package_id=event.package_id,
            module=event.module,
        )
        if self.package_id is not None and contents is not None:
            try:
                decoded = chain_event.decode(self.package_id)
            except CodecError as exc:
                log.warning("event %s does not decode: %s", chain_event.event_type, exc)
            else:
                chain_event = dataclasses.replace(chain_event, decoded=decoded)
        return chain_event

    def _events(self, events: Any) -> tuple[ChainEvent, ...]:
        if events is None:
            return ()
        return tuple(self._event(event, index) for index, event in enumerate(events.events))

    def _checkpoint(self, checkpoint: Any, fallback_sequence: int | None) -> Checkpoint:
        sequence = checkpoint.sequence_number
        if sequence is None:
            sequence = fallback_sequence
        if sequence is None:
            raise ChainError("the node sent a checkpoint without a sequence number")
        summary = checkpoint.summary
        return Checkpoint(
            sequence_number=int(sequence),
            digest=checkpoint.digest,
            timestamp_ms=_ms(summary.timestamp) if summary is not None else None,
            transactions=tuple(
                CheckpointTransaction(digest=tx.digest or "", events=self._events(tx.events))
                for tx in checkpoint.transactions
            ),
        )

    def _execution_result(self, executed: Any, digest: str) -> ExecutionResult:
        effects = executed.effects
        status = effects.status if effects is not None else None
        ok = bool(status is not None and status.success)
        error = error_kind = None
        abort = None
        if status is not None and status.error is not None:
            failure = status.error
            error = failure.description
            error_kind = failure.kind.name if failure.kind is not None else None
            if failure.abort is not None:
                location = failure.abort.location
                abort = MoveAbortInfo(
                    package=location.package if location else None,
                    module=location.module if location else None,
                    function=location.function_name if location else None,
                    code=int(failure.abort.abort_code or 0),
                    command=failure.command,
                )
        gas_object = gas_used = None
        changed: tuple[ChangedObject, ...] = ()
        lamport = None
        if effects is not None:
            if effects.gas_object is not None and effects.gas_object.output_version is not None:
                gas = effects.gas_object
                gas_object = ObjectRef(
                    normalize_address(gas.object_id), int(gas.output_version), gas.output_digest
                )
            if effects.gas_used is not None:
                used = effects.gas_used
                gas_used = GasCost(
                    computation=int(used.computation_cost or 0),
                    storage=int(used.storage_cost or 0),
                    rebate=int(used.storage_rebate or 0),
                    non_refundable=int(used.non_refundable_storage_fee or 0),
                )
            changed = tuple(_changed(c) for c in effects.changed_objects)
            lamport = effects.lamport_version
        return ExecutionResult(
            digest=executed.digest or digest,
            ok=ok,
            error=error,
            error_kind=error_kind,
            abort=abort,
            gas_object=gas_object,
            gas_used=gas_used,
            changed=changed,
            events=self._events(executed.events),
            checkpoint=executed.checkpoint,
            lamport_version=lamport,
        )


def _open_pysui_client(url: str, api_token: str | None) -> GrpcProtocolClient:
    """A pysui client whose configuration never touches the user's files or holds a real key.

    pysui insists on a `PysuiConfig.json` and on at least one key per group: both go to a temporary
    directory, the key is a throwaway that is never persisted (`persist=False`) and never signs anything.
    """
    with tempfile.TemporaryDirectory(prefix="daas-pysui-") as tmp:
        config = PysuiConfiguration.initialize_config(
            in_folder=Path(tmp), init_groups=[{"name": "bootstrap"}]
        )
        config.new_group(
            group_name="daas",
            group_protocol=GroupProtocol.GRPC,
            make_group_active=True,
            profile_block=[
                {
                    "profile_name": "node",
                    "url": url,
                    "network_type": NetworkType.LOCAL,
                    "make_active": True,
                }
            ],
            key_block=[{"key_string": SuiSigner.generate().keystore_entry()}],
            active_address_index=0,
            persist=False,
        )
        headers = {"x-token": api_token} if api_token else None
        client: GrpcProtocolClient = GrpcProtocolClient(pysui_config=config, default_header=headers)
        return client


_OWNER_KINDS = {
    v2.OwnerOwnerKind.ADDRESS: OwnerKind.ADDRESS,
    v2.OwnerOwnerKind.OBJECT: OwnerKind.OBJECT,
    v2.OwnerOwnerKind.SHARED: OwnerKind.SHARED,
    v2.OwnerOwnerKind.IMMUTABLE: OwnerKind.IMMUTABLE,
    v2.OwnerOwnerKind.CONSENSUS_ADDRESS: OwnerKind.CONSENSUS_ADDRESS,
}


def _owner(owner: Any) -> tuple[OwnerKind, str | None, int | None]:
    if owner is None or owner.kind is None:
        return OwnerKind.UNKNOWN, None, None
    kind = _OWNER_KINDS.get(owner.kind, OwnerKind.UNKNOWN)
    address = normalize_address(owner.address) if owner.address else None
    version = int(owner.version) if kind is OwnerKind.SHARED and owner.version else None
    return kind, address, version


def _object_info(obj: Any) -> ObjectInfo:
    kind, address, shared_version = _owner(obj.owner)
    return ObjectInfo(
        object_id=normalize_address(obj.object_id),
        version=int(obj.version or 0),
        digest=obj.digest or "",
        owner_kind=kind,
        owner_address=address,
        initial_shared_version=shared_version,
        object_type=obj.object_type,
        contents=obj.contents.value if obj.contents is not None else None,
        balance=obj.balance,
        previous_transaction=obj.previous_transaction,
    )


def _changed(change: Any) -> ChangedObject:
    operation = change.id_operation
    if operation == v2.ChangedObjectIdOperation.CREATED:
        kind = ChangeKind.CREATED
    elif (
        operation == v2.ChangedObjectIdOperation.DELETED
        or change.output_state == v2.ChangedObjectOutputObjectState.DOES_NOT_EXIST
    ):
        kind = ChangeKind.DELETED
    else:
        kind = ChangeKind.MUTATED
    owner_kind, address, shared_version = _owner(change.output_owner)
    deleted = kind is ChangeKind.DELETED
    return ChangedObject(
        object_id=normalize_address(change.object_id),
        kind=kind,
        version=None if deleted else change.output_version,
        digest=None if deleted else change.output_digest,
        owner_kind=None if deleted else owner_kind,
        owner_address=address,
        initial_shared_version=shared_version,
        object_type=change.object_type,
    )


def _ms(timestamp: datetime.datetime | None) -> int | None:
    if timestamp is None:
        return None
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=datetime.UTC)
    return (timestamp - _EPOCH) // datetime.timedelta(milliseconds=1)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
