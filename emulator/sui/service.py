"""The stand-in's gRPC surface: the `sui.rpc.v2` methods our clients use, served by grpclib.

Services and methods (routes as a real fullnode names them):

- LedgerService: GetServiceInfo, GetEpoch, GetCheckpoint (by sequence, digest or latest), GetObject,
  BatchGetObjects
- StateService: ListOwnedObjects, GetBalance
- SubscriptionService: SubscribeCheckpoints
- TransactionExecutionService: ExecuteTransaction

Messages are pysui's own betterproto2 classes, so a pysui client decodes exactly what it would from a
fullnode. Read masks are honoured (`emulator.sui.masks`), with each method's documented default.

Subscriptions behave as on a fullnode: a stream starts at the tip (its first frame is the latest checkpoint),
never replays older ones, and a subscriber whose bounded buffer overflows is dropped (its stream simply
ends). `Faults` injects what networks do: UNAVAILABLE on a fraction of unary calls (optionally *after*
executing a transaction, so the client cannot know the outcome), added latency, streams cut after N frames
or at random.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pysui.sui.sui_grpc.suimsgs.google.rpc as google_rpc
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as v2
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from daas.chain.bcs import normalize_address
from daas.errors import CodecError
from emulator.sui import messages
from emulator.sui.effects import CheckpointRecord
from emulator.sui.masks import apply_mask
from emulator.sui.node import Rejected, SuiNode
from emulator.sui.objects import COIN_TYPE, SUI_TYPE, NodeObject

log = logging.getLogger(__name__)

LEDGER = "/sui.rpc.v2.LedgerService/"
STATE = "/sui.rpc.v2.StateService/"
SUBSCRIPTION = "/sui.rpc.v2.SubscriptionService/"
EXECUTION = "/sui.rpc.v2.TransactionExecutionService/"

# Defaults a fullnode applies when a request carries no read mask (from the proto documentation).
DEFAULT_CHECKPOINT_MASK = ("sequence_number", "digest")
DEFAULT_OBJECT_MASK = ("object_id", "version", "digest")
DEFAULT_OWNED_MASK = ("object_id", "version", "object_type")
DEFAULT_EXECUTE_MASK = ("effects.status", "checkpoint")
DEFAULT_EPOCH_MASK = ("epoch",)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BATCH = 1000
MAX_SUBSCRIBERS = 1024  # a fullnode refuses more with UNAVAILABLE


@dataclasses.dataclass
class Faults:
    """Network faults to inject; all off by default. `seed` makes random faults repeatable."""

    unavailable_rate: float = 0.0  # fraction of unary calls answered UNAVAILABLE
    latency_s: float = 0.0  # added before every call is served
    stream_drop_after: int | None = None  # cut each subscription after this many frames
    stream_drop_rate: float = 0.0  # chance per frame that a subscription is cut
    unavailable_after_execute: bool = False  # the UNAVAILABLE comes after ExecuteTransaction ran
    seed: int | None = None


class _Subscriber:
    """One subscription's bounded buffer of checkpoint numbers."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._queue: collections.deque[int] = collections.deque()
        self._wake = asyncio.Event()
        self.dropped = False

    def push(self, sequence_number: int) -> None:
        if self.dropped:
            return
        if len(self._queue) >= self._capacity:
            # A fullnode drops a subscriber that cannot keep up rather than buffer without bound.
            self.dropped = True
            self._queue.clear()
        else:
            self._queue.append(sequence_number)
        self._wake.set()

    def close(self) -> None:
        self.dropped = True
        self._wake.set()

    async def next(self) -> int | None:
        """The next checkpoint number, or None once dropped."""
        while not self._queue:
            if self.dropped:
                return None
            self._wake.clear()
            await self._wake.wait()
        if self.dropped:
            return None
        return self._queue.popleft()


class NodeService:
    """grpclib handlers over one `SuiNode` (pass an instance to `grpclib.server.Server`)."""

    def __init__(
        self,
        node: SuiNode,
        *,
        faults: Faults | None = None,
        subscriber_buffer: int = 256,
        on_executed: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self.subscriber_buffer = subscriber_buffer
        self._subscribers: set[_Subscriber] = set()
        self._on_executed = on_executed
        self.calls: collections.Counter[str] = collections.Counter()
        self.last_metadata: dict[str, str] = {}  # headers of the latest call, e.g. an API token

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, checkpoint: CheckpointRecord) -> None:
        """Offer a new checkpoint to every open subscription (never blocks)."""
        for subscriber in list(self._subscribers):
            subscriber.push(checkpoint.sequence_number)

    def close_subscriptions(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()

    # --- grpclib plumbing --------------------------------------------------------------------------------

    def __mapping__(self) -> Mapping[str, Handler]:
        unary = Cardinality.UNARY_UNARY

        def route(
            name: str,
            fn: Callable[[Any], Awaitable[Any]],
            request: type[Any],
            response: type[Any],
        ) -> Handler:
            return Handler(self._unary(name.rsplit("/", 1)[-1], fn), unary, request, response)

        return {
            LEDGER + "GetServiceInfo": route(
                LEDGER + "GetServiceInfo",
                self.get_service_info,
                v2.GetServiceInfoRequest,
                v2.GetServiceInfoResponse,
            ),
            LEDGER + "GetEpoch": route(
                LEDGER + "GetEpoch", self.get_epoch, v2.GetEpochRequest, v2.GetEpochResponse
            ),
            LEDGER + "GetCheckpoint": route(
                LEDGER + "GetCheckpoint",
                self.get_checkpoint,
                v2.GetCheckpointRequest,
                v2.GetCheckpointResponse,
            ),
            LEDGER + "GetObject": route(
                LEDGER + "GetObject", self.get_object, v2.GetObjectRequest, v2.GetObjectResponse
            ),
            LEDGER + "BatchGetObjects": route(
                LEDGER + "BatchGetObjects",
                self.batch_get_objects,
                v2.BatchGetObjectsRequest,
                v2.BatchGetObjectsResponse,
            ),
            STATE + "ListOwnedObjects": route(
                STATE + "ListOwnedObjects",
                self.list_owned_objects,
                v2.ListOwnedObjectsRequest,
                v2.ListOwnedObjectsResponse,
            ),
            STATE + "GetBalance": route(
                STATE + "GetBalance", self.get_balance, v2.GetBalanceRequest, v2.GetBalanceResponse
            ),
            EXECUTION + "ExecuteTransaction": route(
                EXECUTION + "ExecuteTransaction",
                self.execute_transaction,
                v2.ExecuteTransactionRequest,
                v2.ExecuteTransactionResponse,
            ),
            SUBSCRIPTION + "SubscribeCheckpoints": Handler(
                self.subscribe_checkpoints,
                Cardinality.UNARY_STREAM,
                v2.SubscribeCheckpointsRequest,
                v2.SubscribeCheckpointsResponse,
            ),
        }

    def _unary(
        self, name: str, fn: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Stream[Any, Any]], Awaitable[None]]:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            self.calls[name] += 1
            self.last_metadata = {
                key: value
                for key, value in (stream.metadata or {}).items()
                if isinstance(value, str)
            }
            await self._delay()
            after_execute = name == "ExecuteTransaction" and self.faults.unavailable_after_execute
            fault = self._rng.random() < self.faults.unavailable_rate
            if fault and not after_execute:
                raise GRPCError(Status.UNAVAILABLE, f"{name}: service unavailable (injected)")
            try:
                response = await fn(request)
            except Rejected as exc:
                raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from exc
            except (CodecError, ValueError) as exc:
                raise GRPCError(Status.INVALID_ARGUMENT, f"{name}: {exc}") from exc
            if fault:
                raise GRPCError(
                    Status.UNAVAILABLE, f"{name}: connection lost after execution (injected)"
                )
            await stream.send_message(response)

        return handle

    async def _delay(self) -> None:
        if self.faults.latency_s > 0:
            await asyncio.sleep(self.faults.latency_s)

    # --- LedgerService -----------------------------------------------------------------------------------

    async def get_service_info(self, request: v2.GetServiceInfoRequest) -> Any:
        return messages.service_info(self.node)

    async def get_epoch(self, request: v2.GetEpochRequest) -> Any:
        if request.epoch not in (None, self.node.epoch):
            raise GRPCError(Status.NOT_FOUND, f"epoch {request.epoch} not found")
        mask = request.read_mask.paths if request.read_mask else None
        epoch = apply_mask(messages.epoch_message(self.node), mask, DEFAULT_EPOCH_MASK)
        return v2.GetEpochResponse(epoch=epoch)

    async def get_checkpoint(self, request: v2.GetCheckpointRequest) -> Any:
        if request.sequence_number is not None:
            checkpoint = self.node.checkpoint(request.sequence_number)
            wanted = f"checkpoint {request.sequence_number}"
        elif request.digest is not None:
            checkpoint = self.node.checkpoint_by_digest(request.digest)
            wanted = f"checkpoint {request.digest}"
        else:
            checkpoint = self.node.latest_checkpoint
            wanted = "latest checkpoint"
        if checkpoint is None:
            raise GRPCError(Status.NOT_FOUND, f"{wanted} not found")
        mask = request.read_mask.paths if request.read_mask else None
        message = apply_mask(
            messages.checkpoint_message(self.node, checkpoint), mask, DEFAULT_CHECKPOINT_MASK
        )
        return v2.GetCheckpointResponse(checkpoint=message)

    def _object(self, request: v2.GetObjectRequest) -> NodeObject:
        try:
            object_id = normalize_address(request.object_id or "")
        except CodecError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, f"invalid object id: {exc}") from exc
        obj = self.node.get_object(object_id)
        if obj is None or request.version not in (None, obj.version):
            version = "" if request.version is None else f" at version {request.version}"
            raise GRPCError(Status.NOT_FOUND, f"object {object_id}{version} not found")
        return obj

    async def get_object(self, request: v2.GetObjectRequest) -> Any:
        mask = request.read_mask.paths if request.read_mask else None
        message = apply_mask(
            messages.object_message(self._object(request)), mask, DEFAULT_OBJECT_MASK
        )
        return v2.GetObjectResponse(object=message)

    async def batch_get_objects(self, request: v2.BatchGetObjectsRequest) -> Any:
        if len(request.requests) > MAX_BATCH:
            raise GRPCError(Status.INVALID_ARGUMENT, f"at most {MAX_BATCH} objects per batch")
        mask = request.read_mask.paths if request.read_mask else None
        results = []
        for item in request.requests:
            try:
                obj = self._object(item)
            except GRPCError as exc:
                status = google_rpc.Status(code=exc.status.value, message=exc.message or "")
                results.append(v2.GetObjectResult(error=status))
            else:
                results.append(
                    v2.GetObjectResult(
                        object=apply_mask(messages.object_message(obj), mask, DEFAULT_OBJECT_MASK)
                    )
                )
        return v2.BatchGetObjectsResponse(objects=results)

    # --- StateService ------------------------------------------------------------------------------------

    async def list_owned_objects(self, request: v2.ListOwnedObjectsRequest) -> Any:
        owner = normalize_address(request.owner or "")
        objects = self.node.owned_objects(owner)
        if request.object_type:
            objects = [o for o in objects if _type_matches(o.type_tag, request.object_type)]
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if request.page_token:
            after = request.page_token.decode()
            objects = [o for o in objects if o.object_id > after]
        page, rest = objects[:size], objects[size:]
        mask = request.read_mask.paths if request.read_mask else None
        return v2.ListOwnedObjectsResponse(
            objects=[
                apply_mask(messages.object_message(o), mask, DEFAULT_OWNED_MASK) for o in page
            ],
            next_page_token=page[-1].object_id.encode() if rest else None,
        )

    async def get_balance(self, request: v2.GetBalanceRequest) -> Any:
        owner = normalize_address(request.owner or "")
        coin_type = _normalize_type(request.coin_type or SUI_TYPE)
        if coin_type != _normalize_type(SUI_TYPE):
            coin_balance = 0
        else:
            coin_balance = sum(o.balance for o in self.node.coins(owner))
        return v2.GetBalanceResponse(
            balance=v2.Balance(
                coin_type=request.coin_type or SUI_TYPE,
                balance=coin_balance,
                address_balance=0,
                coin_balance=coin_balance,
            )
        )

    # --- TransactionExecutionService ---------------------------------------------------------------------

    async def execute_transaction(self, request: v2.ExecuteTransactionRequest) -> Any:
        tx = request.transaction
        if tx is None or tx.bcs is None or not tx.bcs.value:
            raise GRPCError(
                Status.INVALID_ARGUMENT, "transaction.bcs is required (this node takes BCS only)"
            )
        signatures = []
        for signature in request.signatures:
            if signature.bcs is None or not signature.bcs.value:
                raise GRPCError(Status.INVALID_ARGUMENT, "signatures must be given as bcs")
            signatures.append(signature.bcs.value)
        record = self.node.execute(tx.bcs.value, signatures)
        if self._on_executed is not None:
            self._on_executed()
        mask = request.read_mask.paths if request.read_mask else None
        executed = apply_mask(messages.transaction_message(record), mask, DEFAULT_EXECUTE_MASK)
        return v2.ExecuteTransactionResponse(transaction=executed)

    # --- SubscriptionService -----------------------------------------------------------------------------

    async def subscribe_checkpoints(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        self.calls["SubscribeCheckpoints"] += 1
        await self._delay()
        mask = request.read_mask.paths if request and request.read_mask else None
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise GRPCError(Status.UNAVAILABLE, "too many existing subscriptions")
        subscriber = _Subscriber(self.subscriber_buffer)
        subscriber.push(self.node.latest_checkpoint.sequence_number)
        self._subscribers.add(subscriber)
        sent = 0
        try:
            while (sequence_number := await subscriber.next()) is not None:
                checkpoint = self.node.checkpoint(sequence_number)
                if checkpoint is None:  # pruned while queued
                    continue
                message = apply_mask(
                    messages.checkpoint_message(self.node, checkpoint),
                    mask,
                    DEFAULT_CHECKPOINT_MASK,
                )
                await stream.send_message(
                    v2.SubscribeCheckpointsResponse(cursor=sequence_number, checkpoint=message)
                )
                sent += 1
                limit = self.faults.stream_drop_after
                if (limit is not None and sent >= limit) or (
                    self._rng.random() < self.faults.stream_drop_rate
                ):
                    raise GRPCError(Status.UNAVAILABLE, "subscription dropped (injected)")
            log.info("subscriber dropped after %d frames", sent)
        finally:
            self._subscribers.discard(subscriber)


def _normalize_type(type_tag: str) -> str:
    """`0x2::sui::SUI` and `0x000…02::sui::SUI` name the same type."""
    head, _, rest = type_tag.partition("::")
    try:
        return normalize_address(head) + "::" + rest
    except CodecError:
        return type_tag


def _type_matches(type_tag: str, wanted: str) -> bool:
    """A filter without type parameters (`0x2::coin::Coin`) matches every instantiation."""
    if "<" not in wanted:
        return type_tag.split("<", 1)[0] == wanted or _normalize_type(
            type_tag.split("<", 1)[0]
        ) == _normalize_type(wanted)
    return type_tag == wanted or _normalize_nested(type_tag) == _normalize_nested(wanted)


def _normalize_nested(type_tag: str) -> str:
    outer, _, inner = type_tag.partition("<")
    if not inner:
        return _normalize_type(outer)
    return _normalize_type(outer) + "<" + _normalize_type(inner.rstrip(">")) + ">"


__all__ = ["COIN_TYPE", "Faults", "NodeService"]
