"""Exporting a built image to Walrus as an OCI image, with an image index blob that says where each part is.

`ImageExporter.export` streams the engine's `docker save` tar once (in a worker thread), and for every layer not
already stored (see `daas.image.cache`) compresses it deterministically (`daas.image.compression`, blocks in
parallel) and uploads it in chunks under the publisher's request cap while it is still being compressed. Then it
stores the config (the engine's own bytes, so its digest is the image id), the OCI manifest and the index
(`daas.image.index`). The manifest digest and the index blob id are what the runner posts on chain.

Failures leave as `BuildError`s: IMAGE_TOO_LARGE (requester), BLOB_STORE_UNAVAILABLE, DOCKER_UNAVAILABLE or
INTERNAL (infrastructure).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from daas.build.ports import BuiltImage, ImageTarSource
from daas.config import Settings
from daas.errors import (
    BlobStoreError,
    BuildError,
    BuildFailureCode,
    InfrastructureFault,
    RequesterFault,
)
from daas.image.blobs import store_blob, store_chunk
from daas.image.cache import CachedLayer, LayerCache
from daas.image.compression import DeterministicGzip, read_blocks
from daas.image.index import MAX_INDEX_BYTES, BlobEntry, ChunkRef, ImageIndex
from daas.image.oci import (
    CONFIG_MEDIA_TYPE,
    LAYER_GZIP_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    image_manifest,
    sha256_digest,
)
from daas.image.savetar import LayerWriter, SavedImage, SpooledLayer, read_saved_image
from daas.walrus.ports import BlobStore

__all__ = ["ExportedImage", "ImageExporter"]

# The tar around the layers (headers, padding, metadata) on top of the engine's size, and then some: the
# streaming bound only protects the disk from an engine that reports one size and sends another.
_SLACK_FACTOR = 2
_SLACK_BYTES = 64 * 1024 * 1024
# Uncompressed pieces (1 MiB each from the archive reader) waiting for a layer's compressing thread.
_QUEUED_PIECES = 8


@dataclasses.dataclass(frozen=True)
class ExportedImage:
    """The stored image: what goes on chain, and what the export did."""

    manifest_digest: str
    index_blob_id: str
    index: ImageIndex
    config_digest: str
    # In image order (base first), repeated layers repeated.
    layers: tuple[BlobEntry, ...]
    new_layers: int
    reused_layers: int
    # Bytes sent to Walrus (compressed layers, config, manifest, index).
    stored_bytes: int
    reused_bytes: int
    # Seconds per phase: reuse_check, save (reading the tar, overlapping compression), layers, metadata, total.
    timings: dict[str, float]


class ImageExporter:
    """Exports images to a `BlobStore`, reusing layers found in a `LayerCache`.

    `chunk_bytes` is the publisher's request cap (`walrus.max_request_bytes`); `max_image_bytes` the largest
    image accepted (`runner.max_image_bytes`); temporary files go to `work_dir` (default: the system's).
    `stream_layers=False` spools every layer before compressing it (the streaming shortcut's reference).
    """

    def __init__(
        self,
        store: BlobStore,
        cache: LayerCache,
        *,
        chunk_bytes: int,
        max_image_bytes: int,
        work_dir: Path | None = None,
        upload_concurrency: int = 3,
        layer_concurrency: int = 2,
        compress_threads: int | None = None,
        verify_reused: bool = True,
        stream_layers: bool = True,
    ) -> None:
        if chunk_bytes < 1024:
            raise ValueError("chunk_bytes must be at least 1 KiB")
        self.store = store
        self.cache = cache
        self.chunk_bytes = chunk_bytes
        self.max_image_bytes = max_image_bytes
        self.work_dir = work_dir
        self.upload_concurrency = max(1, upload_concurrency)
        self.layer_concurrency = max(1, layer_concurrency)
        self.compress_threads = compress_threads or min(4, os.cpu_count() or 1)
        self.verify_reused = verify_reused
        self.stream_layers = stream_layers

    @classmethod
    def from_settings(
        cls, settings: Settings, store: BlobStore, cache: LayerCache
    ) -> ImageExporter:
        return cls(
            store,
            cache,
            chunk_bytes=settings.walrus.max_request_bytes,
            max_image_bytes=settings.runner.max_image_bytes,
            work_dir=settings.work_dir if settings.work_dir.is_dir() else None,
        )

    async def export(self, source: ImageTarSource, image: BuiltImage) -> ExportedImage:
        """Store `image` (read from `source`) on Walrus; raises `BuildError` only."""
        if image.size > self.max_image_bytes:
            raise RequesterFault(
                BuildFailureCode.IMAGE_TOO_LARGE,
                f"the image is {image.size} bytes, above the limit of {self.max_image_bytes}",
            )
        try:
            return await self._export(source, image)
        except BuildError:
            raise
        except (BaseExceptionGroup, BlobStoreError, OSError) as exc:
            leaf = _most_telling(exc)
            fault = _as_fault(leaf)
            if fault is leaf:
                raise leaf  # noqa: B904 - it already carries its own cause
            raise fault from leaf

    async def _export(self, source: ImageTarSource, image: BuiltImage) -> ExportedImage:
        run = _ExportRun(time.monotonic())
        reused = await self._reusable(image.diff_ids)
        run.mark("reuse_check")
        wanted = set(image.diff_ids) - reused.keys()
        stored: dict[str, CachedLayer] = {}
        spool_root = self.work_dir
        with (
            tempfile.TemporaryDirectory(dir=spool_root, prefix="daas-export-") as spool,
            concurrent.futures.ThreadPoolExecutor(
                self.compress_threads, thread_name_prefix="daas-gzip"
            ) as pool,
        ):
            send, receive = anyio.create_memory_object_stream[SpooledLayer](len(wanted) + 1)
            limiter = anyio.CapacityLimiter(self.layer_concurrency)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._store_layers, receive, pool, limiter, stored)

                def open_writer() -> _LayerUpload:  # called by the reading thread
                    return anyio.from_thread.run_sync(self._start_streamed_layer, tg, pool, stored)

                with send:
                    saved = await anyio.to_thread.run_sync(
                        self._read,
                        source,
                        image,
                        Path(spool),
                        wanted,
                        send,
                        open_writer,
                        {layer.tar_size for layer in reused.values()},
                    )
                run.mark("save")
        run.mark("layers")
        if saved.diff_ids != image.diff_ids:
            raise InfrastructureFault(
                BuildFailureCode.INTERNAL,
                f"the saved image's layers {saved.diff_ids} differ from the built {image.diff_ids}",
            )
        return await self._finish(image, saved, reused, stored, run)

    async def _finish(
        self,
        image: BuiltImage,
        saved: SavedImage,
        reused: dict[str, CachedLayer],
        stored: dict[str, CachedLayer],
        run: _ExportRun,
    ) -> ExportedImage:
        layers = tuple((stored.get(d) or reused[d]).entry for d in saved.diff_ids)
        config_digest = sha256_digest(saved.config)
        if config_digest != image.image_id:
            raise InfrastructureFault(
                BuildFailureCode.INTERNAL,
                f"the saved config has digest {config_digest}, not the image id {image.image_id}",
            )
        manifest_bytes = image_manifest(
            Descriptor(CONFIG_MEDIA_TYPE, config_digest, len(saved.config)),
            [Descriptor(layer.media_type, layer.digest, layer.size) for layer in layers],
        )
        # The manifest names the config by digest, not by blob id: both are stored at once.
        entries: dict[str, BlobEntry] = {}

        async def put(data: bytes, media_type: str) -> None:
            entries[media_type] = await store_blob(
                self.store, data, media_type, chunk_bytes=self.chunk_bytes
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(put, saved.config, CONFIG_MEDIA_TYPE)
            tg.start_soon(put, manifest_bytes, MANIFEST_MEDIA_TYPE)
        config, manifest = entries[CONFIG_MEDIA_TYPE], entries[MANIFEST_MEDIA_TYPE]
        index = ImageIndex.build(manifest.digest, image.platform, [manifest, config, *layers])
        index_bytes = index.to_bytes()
        if len(index_bytes) > min(self.chunk_bytes, MAX_INDEX_BYTES):
            raise InfrastructureFault(
                BuildFailureCode.INTERNAL,
                f"the image index takes {len(index_bytes)} bytes, more than one Walrus blob holds",
            )
        index_chunk = await store_chunk(self.store, index_bytes)
        run.mark("metadata")
        new_sizes = {layer.entry.digest: layer.entry.size for layer in stored.values()}
        reused_sizes = {layer.entry.digest: layer.entry.size for layer in reused.values()}
        run.timings["total"] = time.monotonic() - run.started
        return ExportedImage(
            manifest_digest=manifest.digest,
            index_blob_id=index_chunk.blob_id,
            index=index,
            config_digest=config.digest,
            layers=layers,
            new_layers=len(stored),
            reused_layers=len(reused),
            stored_bytes=sum(new_sizes.values()) + config.size + manifest.size + len(index_bytes),
            reused_bytes=sum(reused_sizes.values()),
            timings=run.timings,
        )

    # --- reuse ----------------------------------------------------------------------------------------------

    async def _reusable(self, diff_ids: tuple[str, ...]) -> dict[str, CachedLayer]:
        found: dict[str, CachedLayer] = {}

        async def check(diff_id: str) -> None:
            cached = await self.cache.get(diff_id)
            if cached is None:
                return
            if self.verify_reused:
                for chunk in cached.entry.chunks:
                    if not await self.store.exists(chunk.blob_id):
                        return  # expired or never certified: store the layer again
            found[diff_id] = cached

        async with anyio.create_task_group() as tg:
            for diff_id in set(diff_ids):
                tg.start_soon(check, diff_id)
        return found

    # --- the save stream (worker thread) -------------------------------------------------------------------

    def _read(
        self,
        source: ImageTarSource,
        image: BuiltImage,
        spool: Path,
        wanted: set[str],
        send: MemoryObjectSendStream[SpooledLayer],
        open_writer: Callable[[], LayerWriter],
        other_sizes: set[int],
    ) -> SavedImage:
        def on_layer(layer: SpooledLayer) -> None:
            # The buffer holds one item per wanted layer: this never waits.
            anyio.from_thread.run_sync(send.send_nowait, layer)

        with source.open_image_tar(image) as archive:
            return read_saved_image(
                archive,
                spool_dir=spool,
                wanted=wanted,
                on_layer=on_layer,
                max_bytes=self.max_image_bytes * _SLACK_FACTOR + _SLACK_BYTES,
                layer_count=len(set(image.diff_ids)),
                other_sizes=other_sizes,
                open_writer=open_writer if self.stream_layers else None,
            )

    # --- layers ---------------------------------------------------------------------------------------------

    async def _store_layers(
        self,
        receive: MemoryObjectReceiveStream[SpooledLayer],
        pool: concurrent.futures.Executor,
        limiter: anyio.CapacityLimiter,
        stored: dict[str, CachedLayer],
    ) -> None:
        async with anyio.create_task_group() as tg:
            with receive:
                async for layer in receive:
                    tg.start_soon(self._store_layer, layer, pool, limiter, stored)

    async def _store_layer(
        self,
        layer: SpooledLayer,
        pool: concurrent.futures.Executor,
        limiter: anyio.CapacityLimiter,
        stored: dict[str, CachedLayer],
    ) -> None:
        try:
            async with limiter:
                send, receive = anyio.create_memory_object_stream[tuple[int, bytes]](1)
                writer = _LayerUpload(self.chunk_bytes, pool, self.compress_threads * 2, send)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._collect_layer, receive, writer, stored)
                    await anyio.to_thread.run_sync(_feed_file, layer, writer)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.Path(layer.path).unlink(missing_ok=True)
        if writer.gzip.uncompressed_size != layer.size:
            raise InfrastructureFault(
                BuildFailureCode.INTERNAL, f"layer {layer.diff_id} changed while being exported"
            )

    def _start_streamed_layer(
        self,
        tg: anyio.abc.TaskGroup,
        pool: concurrent.futures.Executor,
        stored: dict[str, CachedLayer],
    ) -> _LayerUpload:
        """In the event loop, for the reading thread: a writer whose chunks are uploaded as they come."""
        send, receive = anyio.create_memory_object_stream[tuple[int, bytes]](1)
        writer = _LayerUpload(self.chunk_bytes, pool, self.compress_threads * 2, send)
        tg.start_soon(self._collect_layer, receive, writer, stored)
        return writer

    async def _collect_layer(
        self,
        receive: MemoryObjectReceiveStream[tuple[int, bytes]],
        writer: _LayerUpload,
        stored: dict[str, CachedLayer],
    ) -> None:
        """Upload a layer's chunks as the writer produces them; record the layer if it was wanted."""
        chunks: dict[int, ChunkRef] = {}

        async def upload(chunk_stream: MemoryObjectReceiveStream[tuple[int, bytes]]) -> None:
            with chunk_stream:
                async for number, data in chunk_stream:
                    chunks[number] = await store_chunk(self.store, data)

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, writer.run)
            with receive:
                for _ in range(self.upload_concurrency):
                    tg.start_soon(upload, receive.clone())
        # The writer sets its outcome before it closes the stream, so it is known here.
        if writer.diff_id is None or not writer.wanted:
            return
        entry = BlobEntry(
            "sha256:" + writer.gzip.sha256.hexdigest(),
            LAYER_GZIP_MEDIA_TYPE,
            writer.gzip.size,
            tuple(chunks[i] for i in sorted(chunks)),
        )
        layer = CachedLayer(entry, writer.gzip.uncompressed_size)
        stored[writer.diff_id] = layer
        await self.cache.put(writer.diff_id, layer)


class _LayerUpload:
    """Compresses a layer pushed in pieces and hands full chunks to the uploaders.

    The pushing thread (the archive reader, which also hashes the layer) only queues the pieces: a thread of the
    layer's own (`run`) feeds the compressor, checksums and hashes the compressed stream in order and cuts it
    into chunks. The two sequential hashes of a layer thus run on both cores, while the pool compresses.
    """

    def __init__(
        self,
        chunk_bytes: int,
        pool: concurrent.futures.Executor,
        window: int,
        send: MemoryObjectSendStream[tuple[int, bytes]],
    ) -> None:
        self.gzip = DeterministicGzip(pool, window=window)
        self.diff_id: str | None = None
        self.wanted = False
        self._chunk_bytes = chunk_bytes
        self._send = send
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._number = 0
        # Pieces, then one `_End`; bounded so that a slow upload holds the reader back (memory: a few MiB).
        self._queue: queue.Queue[bytes | _End] = queue.Queue(_QUEUED_PIECES)
        self._failure: BaseException | None = None

    # --- the pushing thread ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._failure is not None:
            raise self._failure  # stop reading: the upload has failed
        self._queue.put(data)

    def finish(self, diff_id: str, wanted: bool) -> None:
        self._queue.put(_End(diff_id, wanted))

    def abort(self) -> None:
        self._queue.put(_End(None, False))

    # --- the layer's thread ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Until `finish` or `abort`: compress, cut and emit; the send stream is closed at the end."""
        try:
            while not isinstance(item := self._queue.get(), _End):
                if self._failure is None:
                    try:
                        self._add(self.gzip.feed(item))
                    except BaseException as exc:
                        # Keep taking pieces, so that the pushing thread never waits on a full queue.
                        self._failure = exc
                        self.gzip.close()
            if self._failure is not None:
                raise self._failure
            if item.diff_id is None:
                self.gzip.close()
                return
            self._add(self.gzip.finish())
            if self._buffer:
                self._emit(b"".join(self._buffer))
                self._buffer.clear()
            # Set before the stream closes, so that the collecting task knows the outcome.
            self.diff_id, self.wanted = item.diff_id, item.wanted
        finally:
            anyio.from_thread.run_sync(self._send.close)

    def _add(self, pieces: list[bytes]) -> None:
        # Pieces are kept as they are and joined once per chunk (one copy of the layer's compressed bytes).
        for piece in pieces:
            view = memoryview(piece)
            while view:
                room = self._chunk_bytes - self._buffered
                part = view[:room]
                self._buffer.append(piece if len(part) == len(piece) else bytes(part))
                self._buffered += len(part)
                view = view[room:]
                if self._buffered == self._chunk_bytes:
                    self._emit(b"".join(self._buffer))
                    self._buffer.clear()
                    self._buffered = 0

    def _emit(self, chunk: bytes) -> None:
        # Waits while every uploader is busy: memory stays at a few chunks.
        anyio.from_thread.run(self._send.send, (self._number, chunk))
        self._number += 1


@dataclasses.dataclass(frozen=True)
class _End:
    diff_id: str | None  # None: aborted
    wanted: bool


def _feed_file(layer: SpooledLayer, writer: _LayerUpload) -> None:
    """In a worker thread: push a spooled layer through its writer."""
    try:
        with layer.path.open("rb") as file:
            for block in read_blocks(file):
                writer.write(block)
    except BaseException:
        writer.abort()
        raise
    writer.finish(layer.diff_id, True)


class _ExportRun:
    def __init__(self, started: float) -> None:
        self.started = started
        self._last = started
        self.timings: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = round(now - self._last, 4)
        self._last = now


def _as_fault(exc: BaseException) -> BaseException:
    """Our error for a failure below the export (programming errors and cancellation stay as they are)."""
    if isinstance(exc, BlobStoreError):
        return InfrastructureFault(
            BuildFailureCode.BLOB_STORE_UNAVAILABLE, f"storing the image on Walrus failed: {exc}"
        )
    if isinstance(exc, OSError):
        return InfrastructureFault(BuildFailureCode.INTERNAL, f"exporting the image failed: {exc}")
    return exc


def _most_telling(exc: BaseException) -> BaseException:
    """The error to report from a (group of) failure(s): ours first, then Walrus', then the first real one."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(exc)
    for kind in (BuildError, BlobStoreError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    # A closed stream is only the echo of the failure that closed it.
    telling = [leaf for leaf in leaves if not isinstance(leaf, anyio.BrokenResourceError)]
    return (telling or leaves)[0]
