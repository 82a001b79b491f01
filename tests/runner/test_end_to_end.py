"""A request on chain ends SUCCEEDED: image, log and Kubernetes manifest on Walrus, a signature that verifies.

Real parts throughout: the Sui stand-in over gRPC, the Walrus stand-in over HTTP, the Docker engine, the
indexer, and the database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import docker
import pytest
import sqlalchemy as sa
import yaml  # type: ignore[import-untyped]

from daas.attestation.attestor import verify_result
from daas.chain.codecs import BuildSucceededPayload, EnclaveObject, RequestStatus
from daas.db.engine import session_scope
from daas.db.models import ArtifactKind, BuildStatus, BuildStep, EventKind
from daas.db.repos import artifacts, logs
from daas.image import pull_image
from tests.runner.harness import dockerfile, running_stack

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_request_ends_succeeded_with_everything_on_walrus(
    engine: sa.Engine, tmp_path: Path, docker_client: docker.DockerClient, base_image: str
) -> None:
    files = {
        "Dockerfile": dockerfile(
            "ARG GREETING=unset",
            "COPY hello.txt /hello.txt",
            'RUN echo "building with $GREETING" && echo "$GREETING" > /greeting',
            'CMD ["cat", "/greeting"]',
        ),
        "hello.txt": "hello\n",
        "daas.toml": '[build]\nargs = { GREETING = "bonjour" }\n[image]\nport = 8080\n'
        'env = { LOG_LEVEL = "debug" }\n'
        '[resources]\ncpu = "250m"\nmemory = "64Mi"\n',
    }
    async with running_stack(engine, tmp_path) as stack, stack.runner() as service:
        request_id = await stack.request(files)
        build = await stack.wait_final(request_id)
        request = await stack.on_chain(request_id)

        # On chain: succeeded, and the enclave's signature verifies over the exact signed bytes.
        assert build.status is BuildStatus.SUCCEEDED and build.step is BuildStep.DONE
        assert request.status == RequestStatus.SUCCEEDED and request.result is not None
        result = request.result
        enclave_info = await stack.chain.client.get_object(result.enclave_id)
        assert enclave_info.contents is not None
        enclave = EnclaveObject.from_bcs(enclave_info.contents)
        assert enclave.debug and enclave.pk == service.deps.attestor.public_key
        payload = BuildSucceededPayload(
            request_id,
            request.spec_digest,
            result.image_digest,
            result.image_index_blob_id,
            result.log_digest,
            result.log_blob_id,
        )
        assert verify_result(enclave.pk, payload, result.timestamp_ms, result.signature)
        assert not verify_result(enclave.pk, payload, result.timestamp_ms + 1, result.signature)

        # The image on Walrus: pulled back through its index, it is the image the manifest digest names.
        pulled = await pull_image(
            stack.store,
            result.image_index_blob_id,
            tmp_path / "pulled",
            expected_manifest="sha256:" + result.image_digest.hex(),
        )
        manifest = (pulled.layout_dir / "blobs" / "sha256" / result.image_digest.hex()).read_bytes()
        assert hashlib.sha256(manifest).digest() == result.image_digest
        assert len(pulled.layer_digests) == 3  # the base, COPY and RUN
        # The log on Walrus: JSON Lines whose sha256 is on chain, with the build's own output in it.
        log_bytes = await stack.store.read(result.log_blob_id, expected_sha256=result.log_digest)
        texts = [json.loads(line)["text"] for line in log_bytes.splitlines()]
        assert "building with bonjour" in texts
        # The Kubernetes manifest on Walrus, referencing the image by digest through our registry.
        with session_scope(stack.engine) as session:
            stored = artifacts.get(session, request_id, ArtifactKind.KUBERNETES)
            index_row = artifacts.get(session, request_id, ArtifactKind.IMAGE_INDEX)
            log_row = artifacts.get(session, request_id, ArtifactKind.LOG)
            lines = logs.read(session, request_id)
        # All three stored blobs recorded (in one transaction), naming what went on chain.
        assert index_row is not None and index_row.blob_id == result.image_index_blob_id
        assert log_row is not None and log_row.blob_id == result.log_blob_id
        assert bytes.fromhex(log_row.sha256) == result.log_digest
        assert any(text.startswith("image sha256:") and "stored" in text for text in texts)
        assert stored is not None and stored.content is not None
        text = (await stack.store.read(stored.blob_id)).decode()
        assert text == stored.content
        deployment, service_object = yaml.safe_load_all(text)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith(f"/daas/{request_id}@sha256:{result.image_digest.hex()}")
        assert container["resources"]["limits"] == {"cpu": "250m", "memory": "64Mi"}
        assert service_object["spec"]["ports"][0]["port"] == 8080
        assert container["env"] == [{"name": "LOG_LEVEL", "value": "debug"}]

    # The database: every step in order with timings, numbered log lines, the lease released.
    assert stack.steps(request_id) == [
        "fetching",
        "building",
        "exporting",
        "attesting",
        "submitting",
        "done",
    ]
    building = stack.step_payload(request_id, BuildStep.BUILDING)
    exporting = stack.step_payload(request_id, BuildStep.EXPORTING)
    assert exporting["log_blob_id"] == result.log_blob_id
    assert exporting["kubernetes_blob_id"] == stored.blob_id
    assert building["ok"] and building["duration_ms"] >= 0 and building["attempt"] == 1
    assert [line.line_no for line in lines] == list(range(len(lines)))
    assert any(e.kind is EventKind.LOG for e in stack.events(request_id))
    # The indexer's result event and the runner's last step event race: both are there, in either order.
    assert [e.kind for e in stack.events(request_id)].count(EventKind.RESULT) == 1
    assert build.attempts == 1 and build.lease_owner is None
    # The local image is gone.
    image_id = stack.step_payload(request_id, BuildStep.BUILDING)["image_id"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
