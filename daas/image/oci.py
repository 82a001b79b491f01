"""OCI image format pieces: media types, digests, descriptors and the image manifest we write.

Only what DaaS produces and reads back: single-platform images whose config is the engine's own image config,
kept byte for byte (so the config digest is the engine's image id), and gzip layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "DOCKER_CONFIG_MEDIA_TYPE",
    "DOCKER_LAYER_MEDIA_TYPE",
    "DOCKER_MANIFEST_MEDIA_TYPE",
    "INDEX_MEDIA_TYPE",
    "LAYER_GZIP_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "Descriptor",
    "check_digest",
    "digest_hex",
    "image_manifest",
    "sha256_digest",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """`digest` if it is `sha256:` and 64 lower-case hex digits, else `ValueError`."""
    if not _DIGEST.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 digest (sha256:<64 hex digits>)")
    return digest


def digest_hex(digest: str) -> str:
    return check_digest(digest).removeprefix("sha256:")


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def image_manifest(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """The manifest's bytes, exactly as stored and hashed: compact JSON in the specification's field order."""
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
