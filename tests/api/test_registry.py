"""The `/v2` registry: the real Docker engine pulls a built image through it and runs it; errors are OCI's."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import docker
import httpx
import pytest
import sqlalchemy as sa
from docker.errors import ImageNotFound

from api.app import create_app
from api.deps import HealthPolicy
from daas.build import BuildLimits, DockerBuildExecutor
from daas.config import MIB, Settings
from daas.db.engine import create_engine_for, session_scope
from daas.db.migrate import upgrade
from daas.db.models import BuildStatus
from daas.db.repos import builds
from daas.image import ExportedImage, ImageExporter, MemoryLayerCache
from daas.walrus import RetryPolicy, WalrusClient
from emulator.walrus import Hostile, RunningWalrus, serve_walrus
from tests.api.support import insert_build, make_build, request_id, serve
from tests.build.support import LogRecorder, write_context

pytestmark = pytest.mark.anyio

CAP = 64 * 1024  # small chunks: every layer is several Walrus blobs
FAST = RetryPolicy(retries=1, base_delay_s=0.001, max_delay_s=0.002)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BUILD = request_id(0xD0C)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def walrus() -> AsyncIterator[RunningWalrus]:
    async with serve_walrus(max_body_bytes=CAP, seed=3) as running:
        yield running


@pytest.fixture(scope="module")
async def store(walrus: RunningWalrus) -> AsyncIterator[WalrusClient]:
    async with WalrusClient(
        aggregator_url=walrus.url,
        publisher_url=walrus.url,
        max_request_bytes=CAP,
        retry=FAST,
        timeout_s=10.0,
        rng=random.Random(0),
    ) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class Built:
    image: ExportedImage
    marker: str  # what the image's default command prints


class CorruptingStore:
    """A `BlobStore` whose reads of one Walrus blob come back with a byte flipped and no error: a store that
    failed to notice. Only the API's own digest check stands between those bytes and the client."""

    def __init__(self, inner: WalrusClient, bad_blob_id: str) -> None:
        self.inner = inner
        self.bad_blob_id = bad_blob_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextlib.asynccontextmanager
    async def open_stream(self, blob_id: str, **kwargs: Any) -> AsyncIterator[AsyncIterator[bytes]]:
        if blob_id != self.bad_blob_id:
            async with self.inner.open_stream(blob_id, **kwargs) as pieces:
                yield pieces
            return
        data = bytearray(await self.inner.read(blob_id))
        data[len(data) // 2] ^= 0xFF

        async def pieces() -> AsyncIterator[bytes]:
            yield bytes(data)

        yield pieces()


@pytest.fixture(scope="module")
async def built(
    docker_client: docker.DockerClient,
    base_image: str,
    store: WalrusClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """A small build on the base image, exported to the Walrus stand-in; the local image is removed."""
    marker = uuid.uuid4().hex
    dockerfile = (
        f"FROM {base_image}\nRUN echo {marker} > /hello && head -c 200000 /dev/urandom > /noise\n"
        'CMD ["cat", "/hello"]\n'
    )
    context = write_context(tmp_path_factory.mktemp("ctx"), {"Dockerfile": dockerfile})
    async with DockerBuildExecutor() as executor:
        image = await executor.build(
            context,
            dockerfile="Dockerfile",
            platform="linux/amd64",
            build_args={},
            target=None,
            limits=BuildLimits(memory_bytes=256 * MIB, cpus=1.0, timeout_s=120),
            on_log_line=LogRecorder(),
        )
        try:
            exporter = ImageExporter(
                store, MemoryLayerCache(), chunk_bytes=CAP, max_image_bytes=64 * MIB
            )
            result = await exporter.export(executor, image)
        finally:
            await executor.remove(image)
    return Built(result, marker)


@pytest.fixture(scope="module")
async def registry(
    built: Built, store: WalrusClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, sa.Engine]]:
    """The API (SQLite) with one succeeded build whose image is `exported`; yields its URL and engine."""
    data_dir = tmp_path_factory.mktemp("api")
    engine = create_engine_for(f"sqlite:///{data_dir / 'daas.db'}")
    upgrade(engine)
    insert_build(engine, make_build(BUILD))
    with session_scope(engine) as session:
        builds.advance_status(
            session,
            BUILD,
            BuildStatus.SUCCEEDED,
            image_digest=built.image.manifest_digest.removeprefix("sha256:"),
            image_index_blob_id=built.image.index_blob_id,
            log_digest="33" * 32,
        )
        session.commit()
    settings = Settings(data_dir=data_dir)  # type: ignore[call-arg]
    app = create_app(settings, engine=engine, blob_store=store, health=HealthPolicy(None, None))
    try:
        async with serve(app) as url:
            yield url, engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def removed_after(client: docker.DockerClient, reference: str):  # type: ignore[no-untyped-def]
    try:
        yield
    finally:
        with contextlib.suppress(ImageNotFound):
            client.images.remove(reference, force=True)


async def test_docker_pulls_the_image_by_digest_and_runs_it(
    docker_client: docker.DockerClient, built: Built, registry: tuple[str, sa.Engine]
) -> None:
    url, _ = registry
    host = url.removeprefix("http://")
    repository = f"{host}/daas/{BUILD}"
    reference = f"{repository}@{built.image.manifest_digest}"
    with removed_after(docker_client, reference):
        image = await anyio.to_thread.run_sync(
            lambda: docker_client.images.pull(repository, tag=built.image.manifest_digest)
        )
        assert (
            image.id == built.image.config_digest
        )  # the engine's image id is the config we exported
        assert reference in image.attrs["RepoDigests"]
        output = await anyio.to_thread.run_sync(
            lambda: docker_client.containers.run(reference, remove=True, network_mode="none")
        )
        assert output.decode().strip() == built.marker


async def test_manifests_and_blobs_by_digest_and_tag(
    built: Built, registry: tuple[str, sa.Engine]
) -> None:
    url, _ = registry
    base = f"/v2/daas/{BUILD}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        root = await http.get("/v2/")
        assert root.status_code == 200
        assert root.headers["docker-distribution-api-version"] == "registry/2.0"
        by_tag = await http.get(f"{base}/manifests/latest")
        by_digest = await http.get(f"{base}/manifests/{built.image.manifest_digest}")
        for response in (by_tag, by_digest):
            assert response.status_code == 200
            assert response.headers["content-type"] == OCI_MANIFEST
            assert response.headers["docker-content-digest"] == built.image.manifest_digest
            assert (
                "sha256:" + hashlib.sha256(response.content).hexdigest()
                == built.image.manifest_digest
            )
            assert int(response.headers["content-length"]) == len(response.content)
        head = await http.head(f"{base}/manifests/latest")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == by_tag.headers["content-length"]
        assert head.headers["docker-content-digest"] == built.image.manifest_digest

        for layer in built.image.layers:
            blob = await http.get(f"{base}/blobs/{layer.digest}")
            assert blob.status_code == 200
            assert blob.headers["docker-content-digest"] == layer.digest
            assert int(blob.headers["content-length"]) == layer.size == len(blob.content)
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer.digest
            head = await http.head(f"{base}/blobs/{layer.digest}")
            assert head.status_code == 200 and int(head.headers["content-length"]) == layer.size
        tags = await http.get(f"{base}/tags/list")
        assert tags.json() == {"name": f"daas/{BUILD}", "tags": ["latest"]}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", f"/v2/daas/{BUILD}/manifests/sha256:{'0' * 64}", 404, "MANIFEST_UNKNOWN"),
        ("GET", f"/v2/daas/{BUILD}/manifests/v1", 404, "MANIFEST_UNKNOWN"),
        ("GET", f"/v2/daas/{BUILD}/manifests/sha256:xyz", 400, "DIGEST_INVALID"),
        ("GET", f"/v2/daas/{BUILD}/blobs/sha256:{'0' * 64}", 404, "BLOB_UNKNOWN"),
        ("HEAD", f"/v2/daas/{BUILD}/blobs/sha256:{'0' * 64}", 404, None),
        ("GET", f"/v2/daas/{BUILD}/blobs/md5:abc", 400, "DIGEST_INVALID"),
        ("GET", f"/v2/daas/{request_id(5)}/manifests/latest", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/daas/0xnothex/manifests/latest", 400, "NAME_INVALID"),
        ("GET", "/v2/library/busybox/manifests/latest", 404, "NAME_UNKNOWN"),
        ("PUT", f"/v2/daas/{BUILD}/manifests/latest", 405, "UNSUPPORTED"),
        ("POST", f"/v2/daas/{BUILD}/blobs/uploads/", 405, "UNSUPPORTED"),
    ],
)
async def test_unknown_names_and_digests_get_oci_errors(
    registry: tuple[str, sa.Engine], method: str, path: str, status: int, code: str | None
) -> None:
    url, _ = registry
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.request(method, path)
    assert response.status_code == status
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    if code is not None:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["errors"][0]["code"] == code


async def test_a_build_without_an_image_has_no_manifest(registry: tuple[str, sa.Engine]) -> None:
    url, engine = registry
    pending = request_id(0xBEEF)
    insert_build(engine, make_build(pending))
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get(f"/v2/daas/{pending}/manifests/latest")
        kube = await http.get(f"/v1/builds/{pending}/kubernetes")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert kube.status_code == 404 and kube.headers["content-type"] == "application/problem+json"


async def test_kubernetes_manifest_pulls_by_digest_through_this_registry(
    built: Built, registry: tuple[str, sa.Engine]
) -> None:
    url, _ = registry
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get(f"/v1/builds/{BUILD}/kubernetes")
        detail = (await http.get(f"/v1/builds/{BUILD}")).json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert f"/daas/{BUILD}@{built.image.manifest_digest}" in response.text
    assert detail["result"]["image_reference"].endswith(
        f"/daas/{BUILD}@{built.image.manifest_digest}"
    )
    assert detail["result"]["image_index_blob_id"] == built.image.index_blob_id
    assert detail["links"]["kubernetes"] == f"/v1/builds/{BUILD}/kubernetes"


async def test_bytes_that_fail_verification_are_never_served(
    built: Built, walrus: RunningWalrus, store: WalrusClient, tmp_path: Path
) -> None:
    """Before the headers, a failed check is a clean 502; after them, the connection is dropped before the
    last byte, so the client cannot mistake the body for a complete one."""
    layer = max(built.image.layers, key=lambda entry: entry.size)
    assert len(layer.chunks) >= 3
    engine = create_engine_for(f"sqlite:///{tmp_path / 'daas.db'}")
    upgrade(engine)
    insert_build(engine, make_build(BUILD))
    with session_scope(engine) as session:
        builds.advance_status(
            session,
            BUILD,
            BuildStatus.SUCCEEDED,
            image_digest=built.image.manifest_digest.removeprefix("sha256:"),
            image_index_blob_id=built.image.index_blob_id,
        )
        session.commit()
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    corrupting = CorruptingStore(store, layer.chunks[-1].blob_id)
    app = create_app(
        settings, engine=engine, blob_store=corrupting, health=HealthPolicy(None, None)
    )  # type: ignore[arg-type]
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get(f"/v2/daas/{BUILD}/manifests/latest")).status_code == 200
            # The last chunk is wrong: everything before it is sent, then the connection drops.
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(f"/v2/daas/{BUILD}/blobs/{layer.digest}")
            metrics = (await http.get("/metrics")).text
            assert "daas_api_registry_integrity_failures_total 1" in metrics
            # An aggregator flipping bytes in every answer: the first chunk fails its own check before
            # any header was sent, so the client gets a proper error.
            walrus.standin.set_faults(hostile=Hostile.WRONG_BYTES, hostile_count=None)
            try:
                other = min(built.image.layers, key=lambda entry: entry.size)
                response = await http.get(f"/v2/daas/{BUILD}/blobs/{other.digest}")
            finally:
                walrus.standin.clear_faults()
            assert response.status_code == 502
            assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    finally:
        engine.dispose()
