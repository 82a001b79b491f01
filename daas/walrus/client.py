"""`WalrusClient`: the `BlobStore` over the Walrus HTTP publisher (writes) and aggregator (reads).

The same code talks to the public testnet services, an operator's own daemon and the offline stand-in; only the
URLs differ. Every httpx call runs inside `_boundary.mapped_errors`, and every non-success answer goes through
`_boundary.error_for_status`: nothing above this module sees an httpx exception.

Reads stream and verify as they go. A declared `Content-Length` that disagrees with the expected size, or exceeds
`max_bytes`, fails before any body is read; a body that runs past either limit is abandoned at the first chunk
beyond it; a short body or a wrong sha256 fails at the end. Integrity failures are never retried: another try at
the same aggregator would serve the same bytes.

Retries (429, 502, 503, 504, connection errors, timeouts) follow `RetryPolicy`. A store whose outcome is unknown
(a timeout or a 504 after the body was sent) may have been certified anyway. Checking by reading the blob back is
impossible at that point: a blob id comes from the RedStuff encoding, which only the publisher computes, and no
answer carried it. So the check is the retry itself: the client never sends `force`, so the publisher first looks
for a certified blob with the same content that lasts long enough and answers `alreadyCertified` without buying
storage again. The price is uploading the bytes once more (at most the request cap). With `read_back=True`, a
successful store is also read back from the aggregator and verified before it is returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from daas.config import MIB, Settings
from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
    BlobTooLarge,
    ConfigError,
)
from daas.walrus._boundary import MAX_ERROR_BODY, Transient, error_for_status, mapped_errors
from daas.walrus.ports import (
    MAX_EPOCHS_AHEAD,
    BlobDigest,
    BlobStore,
    ProgressCallback,
    StoredBlob,
    check_blob_id,
)
from daas.walrus.retry import RetryPolicy

__all__ = ["WalrusClient"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_CHUNK = 64 * 1024
_MAX_STORE_ANSWER = 1 * MIB  # a store answer is a few hundred bytes of JSON
_USER_AGENT = "daas-walrus-client/1"


# --- the publisher's answer (camelCase on the wire, whatever the published OpenAPI file says) ----------------


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class _Storage(_Camel):
    end_epoch: int


class _BlobObject(_Camel):
    id: str
    blob_id: str
    size: int
    storage: _Storage


class _NewlyCreated(_Camel):
    blob_object: _BlobObject
    cost: int = 0


class _AlreadyCertified(_Camel):
    blob_id: str
    end_epoch: int
    object: str | None = None  # the Blob object, for a deletable blob the publisher's wallet owns


class _StoreAnswer(_Camel):
    newly_created: _NewlyCreated | None = None
    already_certified: _AlreadyCertified | None = None


def _parse_store_answer(action: str, body: bytes, size: int, sha256: bytes) -> StoredBlob:
    try:
        answer = _StoreAnswer.model_validate_json(body)
    except ValidationError as exc:
        raise BlobStoreError(
            f"{action}: the publisher's answer is not a store result: {body[:300]!r}"
        ) from exc
    if answer.newly_created is not None:
        blob = answer.newly_created.blob_object
        if blob.size != size:
            raise BlobIntegrityError(
                f"{action}: the publisher stored {blob.size} bytes, but {size} were sent"
            )
        stored = StoredBlob(
            blob_id=blob.blob_id,
            size=size,
            sha256=sha256,
            end_epoch=blob.storage.end_epoch,
            newly_created=True,
            object_id=blob.id,
            cost=answer.newly_created.cost,
        )
    elif answer.already_certified is not None:
        certified = answer.already_certified
        stored = StoredBlob(
            blob_id=certified.blob_id,
            size=size,
            sha256=sha256,
            end_epoch=certified.end_epoch,
            newly_created=False,
            object_id=certified.object,
        )
    else:
        # `markedInvalid` (the daemon turns it into a 500) and `error` should never come with a 200.
        raise BlobStoreError(f"{action}: the publisher did not store the blob: {body[:300]!r}")
    try:
        check_blob_id(stored.blob_id)
    except BlobNotFound as exc:
        raise BlobStoreError(f"{action}: the publisher answered with a malformed blob id") from exc
    return stored


# --- verification ---------------------------------------------------------------------------------------------


class _Verifier:
    """Checks a download against the expected length, the size limit and the expected sha256."""

    def __init__(
        self,
        action: str,
        expected_sha256: bytes | None,
        expected_size: int | None,
        max_bytes: int | None,
    ) -> None:
        if expected_sha256 is not None and len(expected_sha256) != 32:
            raise ValueError("expected_sha256 is a 32-byte digest")
        if expected_size is not None and expected_size < 0:
            raise ValueError("expected_size must be >= 0")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.action = action
        self.expected_sha256 = expected_sha256
        self.expected_size = expected_size
        self.max_bytes = max_bytes
        self.count = 0
        self._hash = hashlib.sha256()

    def restart(self) -> None:
        self.count = 0
        self._hash = hashlib.sha256()

    def check_declared(self, headers: httpx.Headers) -> int | None:
        """Refuse a body whose announced length is wrong or too long; returns that length if meaningful."""
        if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
            return None  # the length on the wire is not the blob's
        try:
            declared = int(headers["content-length"])
        except (KeyError, ValueError):
            return None
        if self.expected_size is not None and declared != self.expected_size:
            raise BlobIntegrityError(
                f"{self.action}: the aggregator announces {declared} bytes, "
                f"expected {self.expected_size}"
            )
        if self.max_bytes is not None and declared > self.max_bytes:
            raise BlobTooLarge(
                f"{self.action}: the aggregator announces {declared} bytes, "
                f"more than the limit of {self.max_bytes}"
            )
        return declared

    def update(self, chunk: bytes) -> None:
        """Account for `chunk` before anyone uses it; raises as soon as a limit is passed."""
        self.count += len(chunk)
        if self.expected_size is not None and self.count > self.expected_size:
            raise BlobIntegrityError(
                f"{self.action}: the aggregator sent more than the expected {self.expected_size} "
                "bytes; stopped reading"
            )
        if self.max_bytes is not None and self.count > self.max_bytes:
            raise BlobTooLarge(
                f"{self.action}: the blob exceeds the limit of {self.max_bytes} bytes; "
                "stopped reading"
            )
        self._hash.update(chunk)

    def finish(self) -> BlobDigest:
        """The digest of a complete body; raises if it is short or not the expected bytes."""
        if self.expected_size is not None and self.count != self.expected_size:
            raise BlobIntegrityError(
                f"{self.action}: the aggregator sent {self.count} bytes, "
                f"expected {self.expected_size}"
            )
        digest = self._hash.digest()
        if self.expected_sha256 is not None and digest != self.expected_sha256:
            raise BlobIntegrityError(
                f"{self.action}: sha256 {digest.hex()} of the bytes served differs from the "
                f"expected {self.expected_sha256.hex()}"
            )
        return BlobDigest(self.count, digest)


class _VerifiedChunks:
    """The chunks of an open download, each accounted for before it is handed out; verified at the end."""

    def __init__(
        self,
        response: httpx.Response,
        verifier: _Verifier,
        total: int | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        self._chunks = response.aiter_bytes(_CHUNK)
        self._verifier = verifier
        self._total = total
        self._on_progress = on_progress
        self.digest: BlobDigest | None = None

    def __aiter__(self) -> _VerifiedChunks:
        return self

    async def __anext__(self) -> bytes:
        if self.digest is not None:
            raise StopAsyncIteration
        try:
            with mapped_errors(self._verifier.action):
                chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self.digest = self._verifier.finish()
            raise
        except Transient as exc:
            # Bytes were already handed out, so this stream cannot be retried; the caller may open a new one.
            raise BlobStoreUnavailable(str(exc)) from exc
        self._verifier.update(chunk)
        if self._on_progress is not None:
            self._on_progress(self._verifier.count, self._total)
        return chunk


# --- the client -----------------------------------------------------------------------------------------------


def _base_url(url: str, setting: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting}: {url!r} is not an http(s) URL with a host", setting=setting)
    return url.rstrip("/")


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of a streamed body, and whether there was more (not read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


async def _upload(data: bytes, on_progress: ProgressCallback | None) -> AsyncIterator[bytes]:
    total = len(data)
    if on_progress is not None:
        on_progress(0, total)
    view = memoryview(data)
    for offset in range(0, total, _CHUNK):
        chunk = bytes(view[offset : offset + _CHUNK])
        yield chunk  # resumes once httpx has written it
        if on_progress is not None:
            on_progress(offset + len(chunk), total)


class WalrusClient:
    """The Walrus `BlobStore`: async, retrying, verifying. Use as `async with` or call `aclose()`.

    Reads need only `aggregator_url`; stores need `publisher_url` too. `max_request_bytes` is the publisher's
    request cap (public publishers: 10 MiB): larger data is refused before anything is sent. `epochs` is the
    default storage period; `permanent=True` asks for blobs nobody can delete (the default, deletable, is what the
    publisher creates since Walrus 1.33). `transport` is for tests that need an httpx transport of their own.
    """

    def __init__(
        self,
        *,
        aggregator_url: str,
        publisher_url: str | None = None,
        max_request_bytes: int = 10 * MIB,
        epochs: int = 5,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        permanent: bool = False,
        read_back: bool = False,
        max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= epochs <= MAX_EPOCHS_AHEAD:
            raise ConfigError(
                f"walrus.epochs must be between 1 and {MAX_EPOCHS_AHEAD}, not {epochs}",
                setting="walrus.epochs",
            )
        if max_request_bytes < 0:
            raise ConfigError(
                "walrus.max_request_bytes must be >= 0", setting="walrus.max_request_bytes"
            )
        self.aggregator_url = _base_url(aggregator_url, "walrus.aggregator_url")
        self.publisher_url = (
            None if publisher_url is None else _base_url(publisher_url, "walrus.publisher_url")
        )
        self.max_request_bytes = max_request_bytes
        self.epochs = epochs
        self.permanent = permanent
        self.read_back = read_back
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": _USER_AGENT},
            transport=transport,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        permanent: bool = False,
        read_back: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> WalrusClient:
        """A client for the configured network (`walrus.*` settings over the network preset)."""
        walrus = settings.walrus
        return cls(
            aggregator_url=settings.walrus_aggregator_url,
            publisher_url=settings.walrus_publisher_url,
            max_request_bytes=walrus.max_request_bytes,
            epochs=walrus.epochs,
            timeout_s=walrus.timeout_s,
            retry=retry or RetryPolicy(retries=walrus.retries),
            permanent=permanent,
            read_back=read_back,
            transport=transport,
        )

    async def __aenter__(self) -> WalrusClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- writes ---------------------------------------------------------------------------------------------

    async def store(
        self,
        data: bytes,
        *,
        epochs: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> StoredBlob:
        """Store `data` for `epochs` epochs ahead; see the module docstring for retries after unknown outcomes.

        Raises `ConfigError` without a publisher, `BlobTooLarge` above the request cap (nothing sent),
        `BlobStoreUnavailable` once retries are spent, `BlobStoreError` for other refusals.
        """
        if self.publisher_url is None:
            raise ConfigError(
                "storing on Walrus needs a publisher: set walrus.publisher_url "
                "(environment DAAS_WALRUS__PUBLISHER_URL); mainnet has no public publisher",
                setting="walrus.publisher_url",
            )
        if len(data) > self.max_request_bytes:
            raise BlobTooLarge(
                f"{len(data)} bytes exceed the publisher's request cap of {self.max_request_bytes} "
                "bytes (walrus.max_request_bytes); split the data into chunks"
            )
        epochs = self.epochs if epochs is None else epochs
        if not 1 <= epochs <= MAX_EPOCHS_AHEAD:
            raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS_AHEAD}, not {epochs}")
        sha256 = hashlib.sha256(data).digest()
        params = {"epochs": str(epochs)}
        if self.permanent:
            params["permanent"] = "true"
        url = f"{self.publisher_url}/v1/blobs"
        action = f"store of {len(data)} bytes"

        async def attempt() -> StoredBlob:
            with mapped_errors(action):
                request = self._http.build_request(
                    "PUT",
                    url,
                    params=params,
                    content=_upload(data, on_progress),
                    # Announce the length (not chunked): publishers can refuse an oversized body at once.
                    headers={
                        "Content-Length": str(len(data)),
                        "Content-Type": "application/octet-stream",
                    },
                )
                response = await self._http.send(request, stream=True)
                try:
                    limit = _MAX_STORE_ANSWER if response.status_code == 200 else MAX_ERROR_BODY
                    body, more = await _read_capped(response, limit)
                finally:
                    await response.aclose()
            if response.status_code != 200:
                raise error_for_status(
                    action, response.status_code, response.headers, body, store=True
                )
            if more:
                raise BlobStoreError(f"{action}: the publisher's answer exceeds {limit} bytes")
            return _parse_store_answer(action, body, len(data), sha256)

        stored = await self._retrying(action, attempt)
        _log.debug(
            "stored %s (%d bytes, until epoch %d, %s)",
            stored.blob_id,
            stored.size,
            stored.end_epoch,
            "new" if stored.newly_created else "already certified",
        )
        if self.read_back:
            await self._confirm_readable(stored)
        return stored

    async def _confirm_readable(self, stored: StoredBlob) -> None:
        # Public aggregators sit behind CDNs that may serve a cached 404 for a moment after a store.
        for retry in range(self.retry.attempts):
            try:
                await self.read(
                    stored.blob_id, expected_sha256=stored.sha256, expected_size=stored.size
                )
                return
            except BlobNotFound as exc:
                if retry == self.retry.retries:
                    raise BlobStoreUnavailable(
                        f"stored {stored.blob_id}, but the aggregator does not serve it "
                        f"after {self.retry.attempts} read(s): {exc}"
                    ) from exc
                await anyio.sleep(self.retry.delay(retry, None, self._rng))

    # --- reads ----------------------------------------------------------------------------------------------

    async def read(
        self,
        blob_id: str,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> bytes:
        """The blob's bytes, verified; raises `BlobNotFound`, `BlobIntegrityError`, `BlobTooLarge`,
        `BlobStoreUnavailable` (retries spent) or `BlobStoreError`."""
        verifier = _Verifier(
            f"read {check_blob_id(blob_id)}", expected_sha256, expected_size, max_bytes
        )
        buffer = bytearray()

        async def sink(chunk: bytes) -> None:
            buffer.extend(chunk)

        async def attempt() -> BlobDigest:
            buffer.clear()
            return await self._download(blob_id, verifier, sink, on_progress)

        await self._retrying(verifier.action, attempt)
        return bytes(buffer)

    async def read_to(
        self,
        blob_id: str,
        dest: Path,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> BlobDigest:
        """Stream the blob into `dest` through a temporary file beside it, renamed into place once verified."""
        verifier = _Verifier(
            f"read {check_blob_id(blob_id)}", expected_sha256, expected_size, max_bytes
        )
        dest = Path(dest)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            async with await anyio.open_file(fd, "wb") as file:

                async def attempt() -> BlobDigest:
                    await file.seek(0)
                    await file.truncate()
                    return await self._download(blob_id, verifier, file.write, on_progress)

                digest = await self._retrying(verifier.action, attempt)
                await file.flush()
                await anyio.to_thread.run_sync(os.fsync, file.wrapped.fileno())
            await anyio.to_thread.run_sync(tmp.replace, dest)
        except BaseException:
            # Also on cancellation: never leave a partial file behind.
            with anyio.CancelScope(shield=True):
                await anyio.Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    @contextlib.asynccontextmanager
    async def open_stream(
        self,
        blob_id: str,
        *,
        expected_sha256: bytes | None = None,
        expected_size: int | None = None,
        max_bytes: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """The blob as verified chunks (see `BlobStore.open_stream`).

        Opening is retried; once chunks flow, a fault ends the stream with an error instead (they cannot be
        taken back). The final chunk is followed by the length and sha256 checks.
        """
        verifier = _Verifier(
            f"read {check_blob_id(blob_id)}", expected_sha256, expected_size, max_bytes
        )
        async with contextlib.AsyncExitStack() as stack:

            async def attempt() -> tuple[httpx.Response, int | None]:
                return await stack.enter_async_context(self._open(blob_id, verifier))

            response, total = await self._retrying(verifier.action, attempt)
            if on_progress is not None:
                on_progress(0, total)
            yield _VerifiedChunks(response, verifier, total, on_progress)

    async def exists(self, blob_id: str) -> bool:
        """Whether the aggregator serves the blob now (a HEAD request; malformed ids do not exist)."""
        try:
            check_blob_id(blob_id)
        except BlobNotFound:
            return False
        url = f"{self.aggregator_url}/v1/blobs/{blob_id}"
        action = f"exists {blob_id}"

        async def attempt() -> bool:
            with mapped_errors(action):
                response = await self._http.head(url, follow_redirects=True)
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
            raise error_for_status(action, response.status_code, response.headers, response.content)

        return await self._retrying(action, attempt)

    @contextlib.asynccontextmanager
    async def _open(
        self, blob_id: str, verifier: _Verifier
    ) -> AsyncIterator[tuple[httpx.Response, int | None]]:
        """A 200 response ready to stream, with its announced length checked; closed on exit."""
        action = verifier.action
        with mapped_errors(action):
            request = self._http.build_request(
                "GET",
                f"{self.aggregator_url}/v1/blobs/{blob_id}",
                # Blobs are opaque bytes: no compression, so the announced length is the blob's.
                headers={"Accept-Encoding": "identity"},
            )
            response = await self._http.send(request, stream=True, follow_redirects=True)
        try:
            if response.status_code != 200:
                with mapped_errors(action):
                    body, _ = await _read_capped(response, MAX_ERROR_BODY)
                raise error_for_status(action, response.status_code, response.headers, body)
            declared = verifier.check_declared(response.headers)
            yield response, verifier.expected_size if declared is None else declared
        finally:
            with mapped_errors(action):
                await response.aclose()

    async def _download(
        self,
        blob_id: str,
        verifier: _Verifier,
        sink: Callable[[bytes], Awaitable[object]],
        on_progress: ProgressCallback | None,
    ) -> BlobDigest:
        verifier.restart()
        async with self._open(blob_id, verifier) as (response, total):
            if on_progress is not None:
                on_progress(0, total)
            with mapped_errors(verifier.action):
                async for chunk in response.aiter_bytes(_CHUNK):
                    verifier.update(chunk)
                    await sink(chunk)
                    if on_progress is not None:
                        on_progress(verifier.count, total)
        return verifier.finish()

    # --- retries --------------------------------------------------------------------------------------------

    async def _retrying(self, action: str, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run `attempt` until it succeeds, fails for good, or the retry budget is spent."""
        policy = self.retry
        retry = 0
        while True:
            try:
                return await attempt()
            except Transient as exc:
                if retry >= policy.retries:
                    raise BlobStoreUnavailable(
                        f"gave up after {policy.attempts} attempt(s); last error: {exc}"
                    ) from exc
                delay = policy.delay(retry, exc.retry_after_s, self._rng)
                retry += 1
                _log.warning("%s; retry %d of %d in %.2fs", exc, retry, policy.retries, delay)
                await anyio.sleep(delay)


if TYPE_CHECKING:

    def _implements_blob_store(client: WalrusClient) -> BlobStore:
        return client  # mypy proves the class satisfies the Protocol
