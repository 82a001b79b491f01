"""`GrpcCheckpointSource`: the indexer's `ChainSource`, reading checkpoints over gRPC with its own parser.

The three calls the indexer makes (`GetServiceInfo`, `GetCheckpoint`, `SubscribeCheckpoints`) go over a plain
grpclib channel that passes raw bytes; `indexer.wire` turns them into `daas.chain.types` values. This skips
pysui's betterproto2 parse on the hot path (and pysui's import at start-up); everything else that talks to a
node uses `daas.chain.client.SuiClient`, which is also a valid `ChainSource` for the pipeline.

This module is a boundary: grpclib and transport exceptions are mapped here, once, to `daas.errors`
(transient faults to `ChainUnavailable`, a pruned checkpoint to `CheckpointPruned`). Unary calls are retried
a few times on transient faults; the stream is not (ingestion reconnects and backfills).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError

from daas.chain.grpc_errors import TRANSIENT_STATUSES, map_grpc_errors
from daas.chain.ports import CHECKPOINT_EVENTS_MASK
from daas.chain.types import Checkpoint, ServiceInfo
from daas.config import Settings
from daas.errors import ChainError, ChainUnavailable, CheckpointPruned
from indexer import wire

__all__ = ["GrpcCheckpointSource"]

log = logging.getLogger(__name__)

_LEDGER = "/sui.rpc.v2.LedgerService/"
_SUBSCRIBE = "/sui.rpc.v2.SubscriptionService/SubscribeCheckpoints"
# A cancelled call is worth another try when reading checkpoints (nothing is written).
_TRANSIENT = TRANSIENT_STATUSES | {Status.CANCELLED}
_UNARY_ATTEMPTS = 3


class _RawCodec(CodecBase):
    """Passes message bytes through untouched: `indexer.wire` encodes requests and parses replies."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


class _NotFound(Exception):
    """NOT_FOUND from the node; the caller decides what it means."""


class GrpcCheckpointSource:
    """Checkpoints and service info from one node (or archive). Use `async with` or call `close()`."""

    def __init__(self, url: str, *, api_token: str | None = None, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"{url!r} is not an http:// or https:// gRPC URL")
        self.url = url
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._metadata = {"x-token": api_token} if api_token else None
        self._timeout_s = timeout_s
        self._channel: Channel | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, url: str | None = None) -> GrpcCheckpointSource:
        token = settings.chain.api_token
        return cls(
            url or settings.grpc_url,
            api_token=token.get_secret_value() if token else None,
            timeout_s=settings.chain.request_timeout_s,
        )

    def __repr__(self) -> str:
        return f"GrpcCheckpointSource({self.url!r})"

    async def __aenter__(self) -> GrpcCheckpointSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _open(self) -> Channel:
        if self._channel is None:
            self._channel = Channel(
                self._host, self._port, ssl=True if self._tls else None, codec=_RawCodec()
            )
        return self._channel

    # --- ChainSource -------------------------------------------------------------------------------------

    async def service_info(self) -> ServiceInfo:
        frame = await self._unary("GetServiceInfo", b"")
        with self._errors("GetServiceInfo"):
            return wire.parse_service_info(frame)

    async def get_checkpoint(
        self,
        sequence_number: int | None = None,
        *,
        read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK,
    ) -> Checkpoint:
        what = f"GetCheckpoint({'latest' if sequence_number is None else sequence_number})"
        request = wire.checkpoint_request(sequence_number, read_mask)
        try:
            frame = await self._unary("GetCheckpoint", request)
        except _NotFound:
            raise await self._missing(sequence_number, what) from None
        with self._errors(what):
            return wire.parse_checkpoint_response(frame, sequence_number)

    async def subscribe_checkpoints(
        self, *, read_mask: Sequence[str] = CHECKPOINT_EVENTS_MASK
    ) -> AsyncIterator[Checkpoint]:
        request = wire.subscribe_request(read_mask)
        with self._errors("SubscribeCheckpoints"):
            # Streams get no deadline: they live as long as the node keeps them.
            async with self._open().request(
                _SUBSCRIBE, Cardinality.UNARY_STREAM, bytes, bytes, metadata=self._metadata
            ) as stream:
                await stream.send_message(request, end=True)
                async for frame in stream:
                    checkpoint = wire.parse_subscribe_response(frame)
                    if checkpoint is not None:
                        yield checkpoint
            log.info("checkpoint stream from %s ended", self.url)

    # --- plumbing ----------------------------------------------------------------------------------------

    async def _unary(self, method: str, request: bytes) -> bytes:
        what = method
        for attempt in range(_UNARY_ATTEMPTS):
            try:
                return await self._unary_once(method, request, what)
            except ChainUnavailable as exc:
                if attempt + 1 >= _UNARY_ATTEMPTS:
                    raise
                delay = random.uniform(0.05, 0.2) * 2**attempt
                log.debug("%s (attempt %d, retrying in %.2fs)", exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _unary_once(self, method: str, request: bytes, what: str) -> bytes:
        with self._errors(what):
            try:
                async with self._open().request(
                    _LEDGER + method,
                    Cardinality.UNARY_UNARY,
                    bytes,
                    bytes,
                    timeout=self._timeout_s,
                    metadata=self._metadata,
                ) as stream:
                    await stream.send_message(request, end=True)
                    reply = await stream.recv_message()
            except GRPCError as exc:
                if exc.status is Status.NOT_FOUND:
                    raise _NotFound(exc.message) from exc
                raise
        if reply is None:
            raise ChainUnavailable(f"{what}: the node closed the call without an answer")
        return reply

    async def _missing(self, sequence_number: int | None, what: str) -> ChainError:
        info = await self.service_info()
        lowest = info.lowest_available_checkpoint
        if sequence_number is not None and lowest is not None and sequence_number < lowest:
            return CheckpointPruned(
                f"checkpoint {sequence_number} is pruned on {self.url} (lowest available: {lowest})"
            )
        # Above the tip (a node behind a load balancer may lag another): worth another try later.
        return ChainUnavailable(
            f"{what}: not on {self.url} yet (its tip is {info.checkpoint_height})"
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            with map_grpc_errors(what, where=self.url, transient=_TRANSIENT):
                yield
        except wire.FrameError as exc:
            raise ChainError(f"{what}: {self.url} sent a frame we cannot read: {exc}") from exc
