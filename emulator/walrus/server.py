"""The Walrus stand-in: a publisher and an aggregator on one port, speaking the daemon's HTTP API.

`WalrusStandIn` is the ASGI app (`.app`) plus a small Python API to drive it (epochs, faults, stats);
`serve_walrus` runs it under uvicorn on loopback inside the caller's event loop; `run` serves it in the foreground
for `daas emulator walrus`. The wire format follows the research note on the Walrus daemon (`routes.rs`,
`daemon.rs`): camelCase JSON, AIP-193 error bodies, plain-text 400/413/429 where axum or the load shedder answer
before the handler. What the stand-in does not cover is listed in `docs/emulator.md`.

Extra routes under `/_emulator/` (no such prefix exists on Walrus) let another process read the state, set faults
and advance the epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from emulator.walrus.faults import (
    MIB,
    Fault,
    FaultInjector,
    Faults,
    Hostile,
    RouteKind,
    StandInStats,
)
from emulator.walrus.ids import (
    decode_blob_id,
    derived_object_id,
    derived_tx_digest,
    parse_object_id,
    standin_blob_id,
)
from emulator.walrus.query import (
    PublisherQuery,
    QueryRejected,
    parse_publisher_query,
    parse_read_query,
)
from emulator.walrus.state import PUBLISHER_OWNER, BlobObject, EpochClock, Ledger

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "RunningWalrus",
    "WalrusStandIn",
    "run",
    "serve_walrus",
]

_log = logging.getLogger(__name__)

# `--max-body-size` of the daemon defaults to 10,240 KiB.
DEFAULT_MAX_BODY_BYTES = 10_240 * 1024
DEFAULT_PORT = 31415  # the localnet preset's Walrus URL
MAX_EPOCHS_AHEAD = 53
# 63 MiB encoded for 1 epoch cost 132,300 FROST in the docs' example: 2,100 FROST per MiB-epoch.
DEFAULT_PRICE_PER_MIB_EPOCH = 2_100
ERROR_DOMAIN = "daemon.walrus.space"

# Texts of the answers that do not come from the handler (axum's body limit, tower's load shedder).
BODY_LIMIT_TEXT = "Failed to buffer the request body: length limit exceeded"
OVERLOADED_TEXT = "the {role} is receiving too many requests; please try again later"
BLOB_NOT_FOUND_TEXT = (
    "the requested blob ID does not exist on Walrus, ensure that it was entered correctly"
)
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=3600"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


def encoded_length(size: int) -> int:
    """A model of the RS2-encoded size: about 5x the data plus ~63 MiB of per-blob metadata (not exact)."""
    return 66_034_000 + 5 * size


def aip_error(
    code: int, status: str, reason: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error in the daemon's AIP-193 shape."""
    body = {
        "error": {
            "code": code,
            "status": status,
            "message": message,
            "details": [
                {"@type": "ErrorInfo", "reason": reason, "domain": ERROR_DOMAIN, "metadata": {}}
            ],
        }
    }
    return JSONResponse(body, status_code=code, headers=headers)


def _blob_not_found() -> JSONResponse:
    return aip_error(404, "NOT_FOUND", "BLOB_NOT_FOUND", BLOB_NOT_FOUND_TEXT)


def _bad_range(message: str) -> JSONResponse:
    return aip_error(
        416,
        "RANGE_NOT_SATISFIABLE",
        "INVALID_BYTE_RANGE",
        f"invalid byte range parameters: {message}",
    )


def _parse_range(value: str, size: int) -> tuple[int, int] | str:
    """`(start, end)` inclusive for `bytes=start-end`, or the daemon's complaint.

    Like the daemon: one range only, both ends given, and within the blob.
    """
    value = value.strip()
    if "," in value:
        return "only support one range per request"
    match = _RANGE.match(value)
    if match is None:
        return "invalid range header format: malformed range header"
    start_text, end_text = match.groups()
    if not start_text:
        return "must provide start index"
    if not end_text:
        return "must provide end index"
    start, end = int(start_text), int(end_text)
    if start > end:
        return "start index must be less than end index"
    if end >= size:
        return f"byte range {start}-{end} exceeds the blob size {size}"
    return start, end


class _CutResponse(Response):
    """Declares the whole length, sends half, then ends the connection (uvicorn closes it when the app returns
    without finishing the response)."""

    def __init__(self, data: bytes, headers: dict[str, str], stats: StandInStats) -> None:
        super().__init__(content=b"", headers=headers)
        self.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ] + [(b"content-length", str(len(data)).encode())]
        self._data = data
        self._stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self._data[: len(self._data) // 2]
        self._stats.hostile_bytes_sent += len(half)
        await send({"type": "http.response.body", "body": half, "more_body": True})


class WalrusStandIn:
    """Publisher + aggregator stand-in. `.app` is the ASGI application.

    `storage_dir=None` keeps everything in memory. `max_body_bytes` is the publisher's request cap (413 above).
    `seed` makes fault draws reproducible. `epoch_duration_s` advances the virtual epoch on a timer as well.
    """

    def __init__(
        self,
        storage_dir: Path | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        seed: int = 0,
        faults: Faults | None = None,
        start_epoch: int = 1,
        epoch_duration_s: float | None = None,
        max_epochs_ahead: int = MAX_EPOCHS_AHEAD,
        price_per_mib_epoch: int = DEFAULT_PRICE_PER_MIB_EPOCH,
    ) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must be >= 0")
        self.max_body_bytes = max_body_bytes
        self.max_epochs_ahead = max_epochs_ahead
        self.price_per_mib_epoch = price_per_mib_epoch
        self.clock = EpochClock(start_epoch, duration_s=epoch_duration_s)
        self.ledger = Ledger(storage_dir, self.clock)
        self.stats = StandInStats()
        self._injector = FaultInjector(faults or Faults(), seed)
        # Serialises stores: the already-certified check, the id counter, content and index writes.
        self._write_lock = anyio.Lock()
        self.app = self._build_app()

    # --- Python API -----------------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.clock.current

    def advance_epoch(self, epochs: int = 1) -> int:
        """Move the virtual clock forward; blobs whose end epoch is reached expire (404). Returns the new epoch.

        Saved at once with a storage directory, so a restart cannot bring expired blobs back.
        """
        epoch = self.clock.advance(epochs)
        self.ledger.save()
        return epoch

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (`set_faults(Faults(...))`) or change some fields (`set_faults(rate_429=0.5)`).

        Also restarts the `hostile_count` budget.
        """
        base = faults or self._injector.faults
        updated = dataclasses.replace(base, **changes) if changes else base
        self._injector.replace(updated)
        return updated

    def clear_faults(self) -> None:
        self._injector.replace(Faults())

    def reseed(self, seed: int) -> None:
        self._injector.reseed(seed)

    def blob_content(self, blob_id: str) -> bytes | None:
        """The stored bytes of a blob id (readable or expired), for tests; None if never stored."""
        return self.ledger.read_content(blob_id) if self.ledger.has_content(blob_id) else None

    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "blobs": self.ledger.blob_count(),
            "objects": self.ledger.object_count(),
            "maxBodyBytes": self.max_body_bytes,
            "storageDir": None if self.ledger.storage_dir is None else str(self.ledger.storage_dir),
            "faults": self.faults.to_json(),
            "stats": self.stats.to_json(),
        }

    # --- app ------------------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        routes = [
            Route("/v1/blobs", self._put_blob, methods=["PUT"]),
            Route(
                "/v1/blobs/by-object-id/{object_id}",
                self._get_by_object_id,
                methods=["GET", "HEAD"],
            ),
            Route("/v1/blobs/{blob_id}", self._get_blob, methods=["GET", "HEAD"]),
            Route("/status", self._status, methods=["GET", "HEAD"]),
            Route("/v1/api", self._api, methods=["GET"]),
            Route("/_emulator/state", self._admin_state, methods=["GET"]),
            Route("/_emulator/faults", self._admin_faults, methods=["GET", "POST"]),
            Route("/_emulator/epoch", self._admin_epoch, methods=["POST"]),
        ]
        # The daemon's CORS layer is permissive (any origin, method and header; max-age 24 h): browsers store
        # and read blobs directly, as the dashboard does.
        cors = Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["*"],
            allow_headers=["*"],
            max_age=86_400,
        )
        return Starlette(routes=routes, middleware=[cors])

    async def _fault(self, request: Request, route: str, kind: RouteKind) -> Fault | None:
        self.stats.requests[f"{request.method} {route}"] += 1
        faults = self.faults
        if faults.latency_s:
            await anyio.sleep(faults.latency_s)
        fault = self._injector.draw(kind)
        if fault is not None:
            self.stats.faults[fault] += 1
        return fault

    def _retry_after(self) -> dict[str, str]:
        after = self.faults.retry_after_s
        if after is None:
            return {}
        return {"Retry-After": str(int(after)) if after == int(after) else f"{after:g}"}

    def _overloaded(self, role: str) -> Response:
        return PlainTextResponse(
            OVERLOADED_TEXT.format(role=role), status_code=429, headers=self._retry_after()
        )

    # --- publisher ------------------------------------------------------------------------------------------

    async def _put_blob(self, request: Request) -> Response:
        fault = await self._fault(request, "/v1/blobs", "store")
        if fault == "429":
            return self._overloaded("publisher")
        try:
            query = parse_publisher_query(request.scope["query_string"])
        except QueryRejected as exc:
            return PlainTextResponse(str(exc), status_code=400)
        body = await self._read_body(request)
        if body is None:
            return PlainTextResponse(BODY_LIMIT_TEXT, status_code=413)
        if query.deletable and query.permanent:
            return aip_error(
                400,
                "INVALID_ARGUMENT",
                "INVALID_BLOB_PERSISTENCE",
                "the blob cannot be both deletable and permanent",
            )
        if not 1 <= query.epochs <= self.max_epochs_ahead:
            return aip_error(
                400,
                "INVALID_ARGUMENT",
                "MALFORMED_REQUEST",
                f"the request is malformed: epochs must be between 1 and {self.max_epochs_ahead}, "
                f"not {query.epochs}",
            )
        if fault == "504":
            return self._insufficient_confirmations()
        result = await self._store(body, query)
        if fault == "store_lost":
            return self._insufficient_confirmations()
        hostile = self._injector.take_hostile("store")
        if hostile is Hostile.STORE_THEN_HANG:
            self.stats.faults[hostile.value] += 1
            await anyio.sleep(self.faults.hang_s)
            return self._insufficient_confirmations()
        return JSONResponse(result)

    @staticmethod
    def _insufficient_confirmations() -> Response:
        return aip_error(
            504,
            "DEADLINE_EXCEEDED",
            "INSUFFICIENT_CONFIRMATIONS",
            "the service timed-out while waiting for confirmations, please try again",
        )

    async def _read_body(self, request: Request) -> bytes | None:
        """The body, or None as soon as it is known to exceed the cap (never holding more than the cap)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        body = bytearray()
        async for chunk in request.stream():
            if len(body) + len(chunk) > self.max_body_bytes:
                return None
            body += chunk
        return bytes(body)

    async def _store(self, data: bytes, query: PublisherQuery) -> dict[str, Any]:
        blob_id = standin_blob_id(data)
        async with self._write_lock:
            epoch = self.clock.current
            if not query.force:
                certified = self._already_certified(blob_id, epoch + query.epochs, query)
                if certified is not None:
                    self.stats.already_certified += 1
                    return certified
            counter = self.ledger.next_counter()
            owner = query.send_object_to or PUBLISHER_OWNER
            obj = BlobObject(
                object_id=derived_object_id("blob", blob_id, counter),
                blob_id=blob_id,
                size=len(data),
                encoded_length=encoded_length(len(data)),
                registered_epoch=epoch,
                certified_epoch=epoch,
                end_epoch=epoch + query.epochs,
                deletable=not query.permanent,
                storage_id=derived_object_id("storage", blob_id, counter),
                owner=owner,
                tx_digest=derived_tx_digest("certify", blob_id, counter),
                shared_object_id=derived_object_id("shared", blob_id, counter)
                if query.share
                else None,
            )
            await anyio.to_thread.run_sync(self.ledger.write_content, blob_id, data)
            self.ledger.add_object(obj)
            await anyio.to_thread.run_sync(self.ledger.save)
        self.stats.newly_created += 1
        units = -(-obj.encoded_length // MIB)
        created: dict[str, Any] = {
            "blobObject": {
                "id": obj.object_id,
                "registeredEpoch": obj.registered_epoch,
                "blobId": blob_id,
                "size": obj.size,
                "encodingType": "RS2",
                "certifiedEpoch": obj.certified_epoch,
                "storage": {
                    "id": obj.storage_id,
                    "startEpoch": obj.start_epoch,
                    "endEpoch": obj.end_epoch,
                    "storageSize": obj.encoded_length,
                },
                "deletable": obj.deletable,
            },
            "resourceOperation": {
                "registerFromScratch": {
                    "encodedLength": obj.encoded_length,
                    "epochsAhead": query.epochs,
                }
            },
            "cost": units * query.epochs * self.price_per_mib_epoch,
        }
        if obj.shared_object_id is not None:
            created["sharedBlobObject"] = obj.shared_object_id
        return {"newlyCreated": created}

    def _already_certified(
        self, blob_id: str, required_end: int, query: PublisherQuery
    ) -> dict[str, Any] | None:
        """The `alreadyCertified` answer when a certified object already lasts long enough.

        A permanent object proves it with its certification event. A deletable one counts only when the publisher's
        wallet owns it (nobody else can delete it then) and a deletable blob was asked for; the answer names it.
        """
        epoch = self.clock.current
        live = [o for o in self.ledger.objects_of(blob_id) if o.covers(epoch)]
        permanent = [o for o in live if not o.deletable and o.end_epoch >= required_end]
        if permanent:
            best = max(permanent, key=lambda o: o.end_epoch)
            return {
                "alreadyCertified": {
                    "blobId": blob_id,
                    "event": {"txDigest": best.tx_digest, "eventSeq": "0"},
                    "endEpoch": best.end_epoch,
                }
            }
        if query.permanent:
            return None
        owned = [
            o
            for o in live
            if o.deletable
            and o.owner == PUBLISHER_OWNER
            and o.shared_object_id is None
            and o.end_epoch >= required_end
        ]
        if owned:
            best = max(owned, key=lambda o: o.end_epoch)
            return {
                "alreadyCertified": {
                    "blobId": blob_id,
                    "object": best.object_id,
                    "endEpoch": best.end_epoch,
                }
            }
        return None

    # --- aggregator -----------------------------------------------------------------------------------------

    async def _get_blob(self, request: Request) -> Response:
        fault = await self._fault(request, "/v1/blobs/{blob_id}", "read")
        if fault == "429":
            return self._overloaded("aggregator")
        blob_id = request.path_params["blob_id"]
        if decode_blob_id(blob_id) is None:
            return PlainTextResponse(
                f"Invalid URL: cannot parse `{blob_id}` as a blob ID", status_code=400
            )
        return await self._read_blob(request, blob_id, fault)

    async def _get_by_object_id(self, request: Request) -> Response:
        fault = await self._fault(request, "/v1/blobs/by-object-id/{object_id}", "read")
        if fault == "429":
            return self._overloaded("aggregator")
        text = request.path_params["object_id"]
        object_id = parse_object_id(text)
        if object_id is None:
            return PlainTextResponse(
                f"Invalid URL: cannot parse `{text}` as an object ID", status_code=400
            )
        obj = self.ledger.resolve_object(object_id)
        if obj is None:
            try:
                parse_read_query(request.scope["query_string"])
            except QueryRejected as exc:
                return PlainTextResponse(str(exc), status_code=400)
            return _blob_not_found()
        return await self._read_blob(request, obj.blob_id, fault)

    async def _read_blob(self, request: Request, blob_id: str, fault: Fault | None) -> Response:
        try:
            parse_read_query(request.scope["query_string"])
        except QueryRejected as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if fault == "503":
            return aip_error(
                503,
                "UNAVAILABLE",
                "BLOB_UNAVAILABLE",
                "the requested blob is currently unavailable, please try again later",
                headers=self._retry_after(),
            )
        if not self.ledger.is_readable(blob_id, self.clock.current):
            return _blob_not_found()
        data = await anyio.to_thread.run_sync(self.ledger.read_content, blob_id)
        headers = self._read_headers(request, blob_id)
        range_header = request.headers.get("range")
        if range_header is not None:
            parsed = _parse_range(range_header, len(data))
            if isinstance(parsed, str):
                return _bad_range(parsed)
            start, end = parsed
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return Response(data[start : end + 1], status_code=206, headers=headers)
        if request.method == "GET":
            hostile = self._injector.take_hostile("read")
            if hostile is not None:
                self.stats.faults[hostile.value] += 1
                return self._hostile_response(hostile, data, headers)
        return Response(data, headers=headers)

    @staticmethod
    def _read_headers(request: Request, etag: str) -> dict[str, str]:
        # axum answers a byte body as application/octet-stream; the daemon then mirrors the request's Accept
        # (without '*') or, on GET, its Content-Type (`populate_response_headers_from_request`).
        content_type = "application/octet-stream"
        accept = request.headers.get("accept")
        if accept is not None and "*" not in accept:
            content_type = accept
        elif request.method == "GET" and "content-type" in request.headers:
            content_type = request.headers["content-type"]
        return {
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": CACHE_CONTROL,
            "ETag": etag,
        }

    def _hostile_response(self, mode: Hostile, data: bytes, headers: dict[str, str]) -> Response:
        stats = self.stats
        if mode is Hostile.TRUNCATED:
            body = data[: len(data) // 2]
        elif mode is Hostile.WRONG_LENGTH:
            body = data[:-1] if data else b"\0"
        elif mode is Hostile.WRONG_BYTES:
            if data:
                middle = len(data) // 2
                body = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
            else:
                body = b"\0"
        elif mode is Hostile.CONNECTION_CUT:
            return _CutResponse(data, headers, stats)
        else:
            extra = self.faults.oversize_extra_bytes

            async def oversized() -> AsyncIterator[bytes]:
                for offset in range(0, len(data), _CHUNK):
                    chunk = data[offset : offset + _CHUNK]
                    stats.hostile_bytes_sent += len(chunk)
                    yield chunk
                junk = b"\xa5" * _CHUNK
                left = extra
                while left > 0:
                    chunk = junk[: min(left, _CHUNK)]
                    left -= len(chunk)
                    stats.hostile_bytes_sent += len(chunk)
                    yield chunk

            if mode is Hostile.OVERSIZED:
                headers = headers | {"Content-Length": str(len(data) + extra)}
            return StreamingResponse(oversized(), headers=headers)
        stats.hostile_bytes_sent += len(body)
        return Response(body, headers=headers)

    # --- both -----------------------------------------------------------------------------------------------

    async def _status(self, request: Request) -> Response:
        return PlainTextResponse("OK")

    async def _api(self, request: Request) -> Response:
        return JSONResponse(_openapi())

    # --- admin ----------------------------------------------------------------------------------------------

    async def _admin_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of fault settings")
                faults = Faults.from_json(changes, base=self.faults)
                seed = request.query_params.get("seed")
                seed_value = None if seed is None else int(seed)
            except ValueError as exc:
                return PlainTextResponse(str(exc), status_code=400)
            self._injector.replace(faults)
            if seed_value is not None:
                self._injector.reseed(seed_value)
        return JSONResponse(self.faults.to_json())

    async def _admin_epoch(self, request: Request) -> Response:
        try:
            data = json.loads(await request.body() or b"{}")
            epochs = int(data.get("advance", 1))
            epoch = self.advance_epoch(epochs)
        except (ValueError, TypeError, AttributeError) as exc:
            return PlainTextResponse(f"expected {{'advance': N >= 0}}: {exc}", status_code=400)
        return JSONResponse({"epoch": epoch})


def _openapi() -> dict[str, Any]:
    """A small OpenAPI description of what the stand-in serves (the daemon serves Redoc HTML here)."""
    blob_id = {"name": "blob_id", "in": "path", "required": True, "schema": {"type": "string"}}
    raw = {"200": {"description": "the blob's bytes"}, "404": {"description": "BLOB_NOT_FOUND"}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Walrus daemon (DaaS stand-in)",
            "version": "stand-in",
            "description": "Publisher and aggregator on one port. Blob ids are stand-in ids.",
        },
        "paths": {
            "/v1/blobs": {
                "put": {
                    "parameters": [
                        {"name": name, "in": "query", "schema": {"type": kind}}
                        for name, kind in (
                            ("epochs", "integer"),
                            ("permanent", "boolean"),
                            ("deletable", "boolean"),
                            ("force", "boolean"),
                            ("send_object_to", "string"),
                            ("share", "boolean"),
                            ("encoding_type", "string"),
                        )
                    ],
                    "requestBody": {"content": {"application/octet-stream": {}}},
                    "responses": {
                        "200": {"description": "newlyCreated or alreadyCertified"},
                        "400": {"description": "malformed request"},
                        "413": {"description": "body above the size cap"},
                        "504": {"description": "INSUFFICIENT_CONFIRMATIONS"},
                    },
                }
            },
            "/v1/blobs/{blob_id}": {"get": {"parameters": [blob_id], "responses": raw}},
            "/v1/blobs/by-object-id/{object_id}": {
                "get": {
                    "parameters": [
                        {
                            "name": "object_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": raw,
                }
            },
            "/status": {"get": {"responses": {"200": {"description": "OK"}}}},
        },
    }


@dataclasses.dataclass(frozen=True)
class RunningWalrus:
    """A stand-in being served: its base URL (publisher and aggregator alike) and the stand-in to drive."""

    url: str
    host: str
    port: int
    standin: WalrusStandIn


class _EmbeddedServer(uvicorn.Server):
    # `Server.serve` takes over SIGINT/SIGTERM; inside a test or `daas dev` the host process owns signals.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without it every
    # response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(standin: WalrusStandIn, log_level: str, *, embedded: bool) -> uvicorn.Config:
    return uvicorn.Config(
        standin.app,
        # Embedded, the host process owns the logging configuration.
        log_config=None if embedded else uvicorn.config.LOGGING_CONFIG,
        http="h11",
        ws="none",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        # Hung stores (fault injection) must not hold a shutdown for long.
        timeout_graceful_shutdown=1,
    )


@contextlib.asynccontextmanager
async def serve_walrus(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    standin: WalrusStandIn | None = None,
    log_level: str = "warning",
    **standin_options: Any,
) -> AsyncIterator[RunningWalrus]:
    """Serve a stand-in with uvicorn in the current event loop until the block exits.

    `port=0` picks a free port; the bound URL is in the result. Pass a ready `standin`, or options for a new one
    (`storage_dir=...`, `faults=...`, ...).
    """
    if standin is None:
        standin = WalrusStandIn(**standin_options)
    elif standin_options:
        raise TypeError("pass either a standin or options for a new one, not both")
    sock = _bind(host, port)
    bound_port = int(sock.getsockname()[1])
    server = _EmbeddedServer(_config(standin, log_level, embedded=True))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:
                if tg.cancel_scope.cancel_called:
                    break
                await anyio.sleep(0.005)
            try:
                yield RunningWalrus(_url(host, bound_port), host, bound_port, standin)
            finally:
                server.should_exit = True
    finally:
        sock.close()


def run(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    storage_dir: Path | None = None,
    *,
    on_ready: Callable[[RunningWalrus], None] | None = None,
    log_level: str = "info",
    **standin_options: Any,
) -> None:
    """Serve a stand-in in the foreground until SIGINT or SIGTERM (`daas emulator walrus`).

    `on_ready` is called once the port is bound (connections queue from then on), e.g. to print the URL.
    """
    standin = WalrusStandIn(storage_dir, **standin_options)
    sock = _bind(host, port)
    bound_port = int(sock.getsockname()[1])
    if on_ready is not None:
        on_ready(RunningWalrus(_url(host, bound_port), host, bound_port, standin))
    try:
        uvicorn.Server(_config(standin, log_level, embedded=False)).run(sockets=[sock])
    finally:
        sock.close()
