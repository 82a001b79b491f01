"""Exporting: the built image, its Kubernetes manifest and the build log, stored on Walrus.

- The image as an OCI image (`daas.image.ImageExporter`: deterministic layers chunked under the publisher's
  cap, layers already stored reused through the layer cache, then config, manifest and the image index).
- A Kubernetes Deployment (+ Service when `daas.toml` exposes a port) that runs the image by digest through
  our API's registry (`{registry_host}/daas/{request id}@sha256:...`), with the resources and replicas of
  `daas.toml`. It is not signed and not on chain: its blob id and text are kept in `build_artifacts`, where
  the API's `/v1/builds/{id}/kubernetes` finds them. The registry host is `api.public_url`'s, or
  `api.host:api.port`.
- The log as one blob of JSON Lines (`daas.image.store_build_log`, capped to the publisher's request cap,
  keeping the beginning and the end). Its sha256 and blob id go on chain with the result. For a failed build
  the log is stored too; if Walrus cannot take it, the result is posted with an empty log blob id (allowed
  on chain) and the digest of the log that would have been stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence

from daas.bundle import BundleConfig
from daas.config import Settings
from daas.db.models import BuildLogLine
from daas.errors import BlobStoreError, BuildFailureCode, InfrastructureFault
from daas.image.blobs import encode_log, store_build_log
from daas.image.kubernetes import Resources, kubernetes_manifest
from daas.walrus.ports import BlobStore

__all__ = [
    "KUBERNETES_MEDIA_TYPE",
    "LOG_MEDIA_TYPE",
    "StoredArtifact",
    "kubernetes_yaml",
    "registry_host",
    "store_kubernetes",
    "store_log",
]

log = logging.getLogger(__name__)

KUBERNETES_MEDIA_TYPE = "application/yaml"
LOG_MEDIA_TYPE = "application/jsonl"


@dataclasses.dataclass(frozen=True)
class StoredArtifact:
    """A blob stored for a build (`blob_id` empty if storing failed and that was acceptable)."""

    blob_id: str
    sha256: bytes
    size: int
    media_type: str
    lines: int = 0
    omitted_lines: int = 0


def registry_host(settings: Settings) -> str:
    """`host:port` of our API's registry, as Kubernetes will reach it."""
    return settings.registry_host


def kubernetes_yaml(
    settings: Settings, request_id: str, manifest_digest: str, config: BundleConfig
) -> str:
    resources = config.resources
    quantities = Resources(
        cpu_request=resources.cpu,
        memory_request=resources.memory,
        cpu_limit=resources.cpu,
        memory_limit=resources.memory,
    )
    return kubernetes_manifest(
        registry_host=registry_host(settings),
        request_id=request_id,
        manifest_digest=manifest_digest,
        port=config.image.port,
        replicas=resources.replicas,
        resources=quantities,
        env=config.image.env,
    )


async def store_kubernetes(store: BlobStore, text: str) -> StoredArtifact:
    data = text.encode()
    try:
        stored = await store.store(data)
    except BlobStoreError as exc:
        raise InfrastructureFault(
            BuildFailureCode.BLOB_STORE_UNAVAILABLE,
            f"storing the Kubernetes manifest failed: {exc}",
        ) from exc
    return StoredArtifact(stored.blob_id, stored.sha256, len(data), KUBERNETES_MEDIA_TYPE)


async def store_log(
    store: BlobStore, lines: Sequence[BuildLogLine], *, max_bytes: int, required: bool
) -> StoredArtifact:
    """Store the log; when not `required`, a Walrus failure leaves `blob_id` empty instead of raising."""
    try:
        stored = await store_build_log(store, lines, max_bytes=max_bytes)
    except BlobStoreError as exc:
        if required:
            raise InfrastructureFault(
                BuildFailureCode.BLOB_STORE_UNAVAILABLE, f"storing the build log failed: {exc}"
            ) from exc
        log.warning("posting without a log blob: storing it failed: %s", exc)
        data, kept, omitted = encode_log(lines, max_bytes=max_bytes)
        return StoredArtifact(
            "", hashlib.sha256(data).digest(), len(data), LOG_MEDIA_TYPE, kept, omitted
        )
    return StoredArtifact(
        stored.blob_id,
        stored.sha256,
        stored.size,
        LOG_MEDIA_TYPE,
        stored.lines,
        stored.omitted_lines,
    )
