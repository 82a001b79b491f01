"""The image index blob: our own JSON document mapping every OCI blob of an image to its Walrus blobs.

Walrus stores opaque blobs under ids it derives itself, and a publisher caps the size of one request, so an OCI
blob (config, layer, manifest) is stored as one or more Walrus blobs ("chunks") whose concatenation is the OCI
blob. The index says which, in order. Its Walrus blob id goes on chain with the manifest digest; the API's
registry and `daas pull` rebuild the image from it. The full schema is in `docs/image-index.md`; version 1:

    {
      "schema": "daas.image-index",
      "version": 1,
      "manifest": "sha256:<hex>",            // the image manifest's digest (also a key of "blobs")
      "platform": "linux/amd64",
      "blobs": {                             // every blob of the image, manifest included
        "sha256:<hex>": {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "size": 1234,                      // bytes of the OCI blob (the sum of its chunks)
          "chunks": [                        // in order; concatenated they are the OCI blob
            {"blobId": "<43 chars>", "size": 1234, "sha256": "<hex of this chunk>"}
          ]
        }
      }
    }

Serialised as compact JSON with sorted keys (UTF-8), so the same image always gives the same index bytes.
Nothing in the index is trusted when read back: every OCI blob is checked against its digest, every chunk against
its size and sha256.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daas.errors import BlobIntegrityError, BlobNotFound
from daas.image.oci import MANIFEST_MEDIA_TYPE, check_digest
from daas.walrus.ports import check_blob_id

__all__ = [
    "INDEX_MEDIA_TYPE",
    "INDEX_SCHEMA",
    "INDEX_VERSION",
    "MAX_INDEX_BYTES",
    "BlobEntry",
    "ChunkRef",
    "ImageIndex",
    "InvalidImageIndex",
]

INDEX_SCHEMA = "daas.image-index"
INDEX_VERSION = 1
INDEX_MEDIA_TYPE = "application/vnd.daas.image-index.v1+json"
# About 100 bytes per chunk: room for a 40 GiB image in 10 MiB chunks, still one Walrus blob.
MAX_INDEX_BYTES = 1024 * 1024
_MAX_BLOBS = 4096
_MAX_CHUNKS = 100_000


class InvalidImageIndex(BlobIntegrityError):
    """Bytes that are not a well-formed image index of a version we read."""


@dataclasses.dataclass(frozen=True)
class ChunkRef:
    """One Walrus blob holding a consecutive piece of an OCI blob."""

    blob_id: str
    size: int
    sha256: str  # hex

    def to_json(self) -> dict[str, Any]:
        return {"blobId": self.blob_id, "size": self.size, "sha256": self.sha256}


@dataclasses.dataclass(frozen=True)
class BlobEntry:
    """An OCI blob as stored: its digest, media type, size and ordered chunks."""

    digest: str
    media_type: str
    size: int
    chunks: tuple[ChunkRef, ...]

    def __post_init__(self) -> None:
        check_digest(self.digest)
        if sum(chunk.size for chunk in self.chunks) != self.size:
            raise ValueError(f"the chunks of {self.digest} do not add up to {self.size} bytes")

    def to_json(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "size": self.size,
            "chunks": [chunk.to_json() for chunk in self.chunks],
        }


@dataclasses.dataclass(frozen=True)
class ImageIndex:
    """Where every blob of one image lives on Walrus."""

    manifest: str
    platform: str
    blobs: Mapping[str, BlobEntry]

    def __post_init__(self) -> None:
        entry = self.blobs.get(self.manifest)
        if entry is None:
            raise ValueError(f"the manifest {self.manifest} is not among the blobs")
        if entry.media_type != MANIFEST_MEDIA_TYPE:
            raise ValueError(f"the manifest has media type {entry.media_type!r}")

    @classmethod
    def build(cls, manifest: str, platform: str, entries: Sequence[BlobEntry]) -> ImageIndex:
        return cls(manifest, platform, {entry.digest: entry for entry in entries})

    @property
    def manifest_entry(self) -> BlobEntry:
        return self.blobs[self.manifest]

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.blobs.values())

    def to_bytes(self) -> bytes:
        document = {
            "schema": INDEX_SCHEMA,
            "version": INDEX_VERSION,
            "manifest": self.manifest,
            "platform": self.platform,
            "blobs": {digest: entry.to_json() for digest, entry in self.blobs.items()},
        }
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageIndex:
        """Parse and check an index read from anywhere; `InvalidImageIndex` names what is wrong."""
        if len(data) > MAX_INDEX_BYTES:
            raise InvalidImageIndex(f"an image index has at most {MAX_INDEX_BYTES} bytes")
        try:
            head = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidImageIndex(f"the image index is not JSON: {exc}") from exc
        if not isinstance(head, dict) or head.get("schema") != INDEX_SCHEMA:
            raise InvalidImageIndex(f"not a DaaS image index (schema must be {INDEX_SCHEMA!r})")
        if head.get("version") != INDEX_VERSION:
            raise InvalidImageIndex(
                f"image index version {head.get('version')!r} is not supported "
                f"(this DaaS reads version {INDEX_VERSION})"
            )
        try:
            model = _IndexModel.model_validate(head)
            return cls(
                model.manifest,
                model.platform,
                {
                    digest: BlobEntry(
                        digest,
                        blob.media_type,
                        blob.size,
                        tuple(ChunkRef(c.blob_id, c.size, c.sha256) for c in blob.chunks),
                    )
                    for digest, blob in model.blobs.items()
                },
            )
        except (ValidationError, ValueError) as exc:
            raise InvalidImageIndex(f"malformed image index: {exc}") from exc


# --- validation of untrusted index bytes -----------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class _ChunkModel(_Model):
    blob_id: str = Field(alias="blobId")
    size: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("blob_id")
    @classmethod
    def _blob_id(cls, value: str) -> str:
        try:
            return check_blob_id(value)
        except BlobNotFound as exc:
            raise ValueError(str(exc)) from exc


class _BlobModel(_Model):
    media_type: str = Field(alias="mediaType", min_length=1, max_length=255)
    size: int = Field(ge=0)
    chunks: list[_ChunkModel] = Field(min_length=1, max_length=_MAX_CHUNKS)


class _IndexModel(_Model):
    schema_: str = Field(alias="schema")
    version: int
    manifest: str
    platform: str = Field(min_length=1, max_length=64)
    blobs: dict[str, _BlobModel] = Field(min_length=1, max_length=_MAX_BLOBS)

    @field_validator("manifest")
    @classmethod
    def _manifest(cls, value: str) -> str:
        return check_digest(value)

    @field_validator("blobs")
    @classmethod
    def _digests(cls, value: dict[str, _BlobModel]) -> dict[str, _BlobModel]:
        for digest in value:
            check_digest(digest)
        return value
