"""Export to the Walrus stand-in and back: OCI blobs, chunks, digests, layer reuse, pull, `docker load`."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from daas.build import BuildLimits, BuiltImage, DockerBuildExecutor
from daas.config import MIB
from daas.errors import BlobIntegrityError, BuildFailureCode, InfrastructureFault, RequesterFault
from daas.image import (
    BlobEntry,
    ImageExporter,
    ImageIndex,
    MemoryLayerCache,
    pull_image,
    read_blob,
    write_image_tar,
)
from daas.image.compression import gzip_bytes
from daas.image.oci import CONFIG_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from daas.image.savetar import SpooledLayer, read_saved_image
from daas.walrus import WalrusClient
from emulator.walrus import RunningWalrus
from tests.build.support import LogRecorder, write_context
from tests.image.conftest import CAP

pytestmark = pytest.mark.anyio

PUTS = "PUT /v1/blobs"
LIMITS = BuildLimits(memory_bytes=256 * MIB, cpus=1.0, timeout_s=60)


@contextlib.asynccontextmanager
async def built(
    executor: DockerBuildExecutor,
    tmp_path: Path,
    log: LogRecorder,
    dockerfile: str,
    files: dict[str, str] | None = None,
) -> AsyncIterator[BuiltImage]:
    context = write_context(
        tmp_path / uuid.uuid4().hex, {"Dockerfile": dockerfile, **(files or {})}
    )
    image = await executor.build(
        context,
        dockerfile="Dockerfile",
        platform="linux/amd64",
        build_args={},
        target=None,
        limits=LIMITS,
        on_log_line=log,
    )
    try:
        yield image
    finally:
        await executor.remove(image)


def exporter(
    store: WalrusClient, cache: MemoryLayerCache | None = None, **options: object
) -> ImageExporter:
    settings: dict[str, object] = {"chunk_bytes": CAP, "max_image_bytes": 64 * MIB}
    settings.update(options)
    return ImageExporter(store, MemoryLayerCache() if cache is None else cache, **settings)  # type: ignore[arg-type]


def chunk_count(entries: list[BlobEntry]) -> int:
    return sum(len(entry.chunks) for entry in entries)


async def test_export_stores_verified_oci_blobs_in_chunks(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    dockerfile = f'FROM {base_image}\nRUN echo hello > /hello\nCMD ["cat", "/hello"]\n'
    async with built(executor, tmp_path, log, dockerfile) as image:
        exported = await exporter(store).export(executor, image)

    index = exported.index
    assert index.manifest == exported.manifest_digest
    assert index.platform == "linux/amd64"
    assert exported.new_layers == 2 and exported.reused_layers == 0
    # Every blob is on Walrus in chunks under the cap, and its chunks add up to its digest.
    for digest, entry in index.blobs.items():
        assert all(0 < chunk.size <= CAP for chunk in entry.chunks)
        data = await read_blob(store, entry)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    base_layer = exported.layers[0]
    assert len(base_layer.chunks) > 10  # ~1 MB of gzip in 64 KiB chunks
    # One PUT per chunk, plus the index itself; nothing else.
    assert walrus.standin.stats.requests[PUTS] == chunk_count(list(index.blobs.values())) + 1

    manifest = json.loads(await read_blob(store, index.manifest_entry))
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"] == {
        "mediaType": CONFIG_MEDIA_TYPE,
        "digest": image.image_id,  # the engine's config, byte for byte
        "size": index.blobs[image.image_id].size,
    }
    assert [layer["digest"] for layer in manifest["layers"]] == [e.digest for e in exported.layers]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {LAYER_GZIP_MEDIA_TYPE}
    config = json.loads(await read_blob(store, index.blobs[image.image_id]))
    assert tuple(config["rootfs"]["diff_ids"]) == image.diff_ids
    for layer, diff_id in zip(exported.layers, image.diff_ids, strict=True):
        compressed = await read_blob(store, layer)
        tar = gzip.decompress(compressed)
        assert "sha256:" + hashlib.sha256(tar).hexdigest() == diff_id
        assert (
            gzip_bytes(tar) == compressed
        )  # deterministic: compressing again gives the same bytes
    # The index blob on Walrus is the document, and reads back to the same index.
    raw = await store.read(exported.index_blob_id)
    assert raw == index.to_bytes()
    assert ImageIndex.from_bytes(raw) == index


async def test_streamed_and_spooled_layers_give_the_same_image(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo a > /a\nRUN echo b > /b\n"
    async with built(executor, tmp_path, log, dockerfile) as image:
        streamed = await exporter(store).export(executor, image)
        spooled = await exporter(store, stream_layers=False).export(executor, image)
    assert spooled.new_layers == streamed.new_layers == 3
    assert spooled.manifest_digest == streamed.manifest_digest
    assert spooled.index == streamed.index


async def test_second_build_on_the_same_base_stores_only_its_new_layer(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    cache = MemoryLayerCache()
    export = exporter(store, cache)
    stats = walrus.standin.stats
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo a > /a\n") as first:
        one = await export.export(executor, first)
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo b > /b\n") as second:
        before = stats.requests[PUTS]
        two = await export.export(executor, second)
        puts = stats.requests[PUTS] - before
        again = await export.export(executor, second)

    assert one.layers[0] == two.layers[0]  # the base: same digest, same Walrus blobs
    assert two.new_layers == 1 and two.reused_layers == 1
    assert two.reused_bytes == one.layers[0].size
    new_layer, config, manifest = (
        two.layers[1],
        two.index.blobs[second.image_id],
        two.index.manifest_entry,
    )
    assert puts == chunk_count([new_layer, config, manifest]) + 1
    assert len(cache) == 3
    # The same image again: nothing but the (identical) config, manifest and index is stored.
    assert again.new_layers == 0 and again.manifest_digest == two.manifest_digest
    assert again.index_blob_id == two.index_blob_id


async def test_expired_layer_is_stored_again(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    cache = MemoryLayerCache()
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo a > /a\n") as image:
        first = await exporter(store, cache).export(executor, image)
        walrus.standin.advance_epoch(10)  # past every blob's end epoch (5 epochs bought)
        second = await exporter(store, cache).export(executor, image)
    assert second.new_layers == 2 and second.reused_layers == 0
    assert [e.digest for e in second.layers] == [e.digest for e in first.layers]


async def test_pulled_image_loads_and_runs(
    executor: DockerBuildExecutor,
    docker_client: docker.DockerClient,
    store: WalrusClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    dockerfile = f'FROM {base_image}\nRUN echo pulled from walrus > /msg\nCMD ["cat", "/msg"]\n'
    async with built(executor, tmp_path, log, dockerfile) as image:
        exported = await exporter(store).export(executor, image)
    # The local image is gone: only Walrus has it now.
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image.image_id)

    tag = f"daas-test-pulled-{uuid.uuid4().hex[:12]}:latest"
    pulled = await pull_image(
        store,
        exported.index_blob_id,
        tmp_path / "layout",
        expected_manifest=exported.manifest_digest,
        repo_tag=tag,
    )
    assert pulled.config_digest == image.image_id
    assert (tmp_path / "layout" / "oci-layout").is_file()
    archive = io.BytesIO()
    write_image_tar(pulled.layout_dir, archive)
    try:
        docker_client.api.load_image(archive.getvalue())
        loaded = docker_client.images.get(tag)
        assert loaded.id == image.image_id  # the very same image
        output = docker_client.containers.run(tag, remove=True, network_mode="none")
        assert output == b"pulled from walrus\n"
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag)

    # The pulled layout is also an archive the export itself reads (OCI layout, gzip layers), with or
    # without Docker's manifest.json.
    for drop_docker_manifest in (False, True):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in sorted(pulled.layout_dir.rglob("*")):
                name = path.relative_to(pulled.layout_dir).as_posix()
                if not (drop_docker_manifest and name == "manifest.json"):
                    tar.add(path, arcname=name, recursive=False)
        buffer.seek(0)
        spooled: list[SpooledLayer] = []
        saved = read_saved_image(
            buffer,
            spool_dir=tmp_path,
            wanted=set(image.diff_ids),
            on_layer=spooled.append,
            max_bytes=64 * MIB,
        )
        assert saved.diff_ids == image.diff_ids
        assert "sha256:" + hashlib.sha256(saved.config).hexdigest() == image.image_id
        assert sorted(layer.diff_id for layer in spooled) == sorted(image.diff_ids)


async def test_tampered_chunk_is_rejected(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo a > /a\n") as image:
        exported = await exporter(store).export(executor, image)
    chunk = exported.layers[0].chunks[3]
    original = walrus.standin.blob_content(chunk.blob_id)
    assert original is not None
    walrus.standin.ledger.write_content(chunk.blob_id, bytes([original[0] ^ 1]) + original[1:])
    with pytest.raises(BlobIntegrityError):
        await pull_image(
            store,
            exported.index_blob_id,
            tmp_path / "layout",
            expected_manifest=exported.manifest_digest,
        )
    assert not list((tmp_path / "layout" / "blobs" / "sha256").glob("*.part"))
    with pytest.raises(BlobIntegrityError, match="not the expected"):
        await pull_image(
            store,
            exported.index_blob_id,
            tmp_path / "other",
            expected_manifest="sha256:" + "0" * 64,
        )


async def test_too_large_image_is_refused(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo a > /a\n") as image:
        with pytest.raises(RequesterFault) as caught:
            await exporter(store, max_image_bytes=1 * MIB).export(executor, image)
    assert caught.value.code is BuildFailureCode.IMAGE_TOO_LARGE
    assert walrus.standin.stats.requests[PUTS] == 0


async def test_walrus_outage_is_an_infrastructure_fault(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    walrus: RunningWalrus,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    walrus.standin.set_faults(rate_504=1.0)
    async with built(executor, tmp_path, log, f"FROM {base_image}\nRUN echo a > /a\n") as image:
        with pytest.raises(InfrastructureFault) as caught:
            await exporter(store).export(executor, image)
    assert caught.value.code is BuildFailureCode.BLOB_STORE_UNAVAILABLE


async def test_repeated_layer_is_exported_and_pulled_back(
    executor: DockerBuildExecutor,
    store: WalrusClient,
    base_image: str,
    tmp_path: Path,
    log: LogRecorder,
) -> None:
    # The same file copied twice gives the same layer twice: dockerd's archive links the second to the first.
    dockerfile = f"FROM {base_image}\nCOPY f /f\nCOPY f /f\n"
    async with built(executor, tmp_path, log, dockerfile, {"f": "twice\n"}) as image:
        assert image.diff_ids[1] == image.diff_ids[2]
        exported = await exporter(store).export(executor, image)
    assert exported.new_layers == 2
    assert exported.layers[1] == exported.layers[2]
    pulled = await pull_image(
        store,
        exported.index_blob_id,
        tmp_path / "layout",
        expected_manifest=exported.manifest_digest,
    )
    assert pulled.config_digest == image.image_id
