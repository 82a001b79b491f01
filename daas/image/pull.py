"""Rebuilding an image from Walrus: fetch its index, fetch and verify every blob, write an OCI image layout.

The layout also carries a Docker `manifest.json` pointing into `blobs/`, so the same directory (or its tar, see
`write_image_tar`) is both an OCI image layout and an archive that `docker load` accepts, including dockerd 20.10,
which reads only the Docker format and decompresses gzip layers itself.

Trust: only `expected_manifest` (the digest posted on chain) is trusted. The manifest is checked against it, the
config and layers against the manifest's descriptors, every chunk against the index's size and sha256. Any
mismatch raises `BlobIntegrityError` (`InvalidImageIndex` for an index that does not parse).
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from daas.errors import BlobIntegrityError
from daas.image.blobs import read_blob, read_blob_to
from daas.image.index import MAX_INDEX_BYTES, BlobEntry, ImageIndex, InvalidImageIndex
from daas.image.oci import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    check_digest,
    digest_hex,
)
from daas.walrus.ports import BlobStore

__all__ = ["PulledImage", "fetch_index", "pull_image", "write_image_tar"]

_LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
_FIXED_MTIME = 0


@dataclasses.dataclass(frozen=True)
class PulledImage:
    """An image written to `layout_dir` (OCI layout + Docker `manifest.json`)."""

    layout_dir: Path
    index: ImageIndex
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]


async def fetch_index(store: BlobStore, index_blob_id: str) -> ImageIndex:
    """Read and parse an image index blob (`InvalidImageIndex` if malformed)."""
    data = await store.read(index_blob_id, max_bytes=MAX_INDEX_BYTES)
    return ImageIndex.from_bytes(data)


def _descriptor(value: Any, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidImageIndex(f"the manifest's {what} is not a descriptor")
    try:
        return Descriptor(
            str(value["mediaType"]), check_digest(str(value["digest"])), int(value["size"])
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidImageIndex(f"the manifest's {what} is malformed: {exc}") from exc


def _entry_for(index: ImageIndex, descriptor: Descriptor) -> BlobEntry:
    entry = index.blobs.get(descriptor.digest)
    if entry is None or entry.size != descriptor.size:
        raise InvalidImageIndex(
            f"the index does not hold {descriptor.digest} ({descriptor.size} bytes)"
        )
    return entry


async def pull_image(
    store: BlobStore,
    index_blob_id: str,
    dest: Path,
    *,
    expected_manifest: str | None = None,
    repo_tag: str | None = None,
) -> PulledImage:
    """Write the image stored under `index_blob_id` into the directory `dest` (created; must be empty).

    `repo_tag` (`name:tag`) is what `docker load` tags the image as; without it the loaded image is untagged.
    """
    index = await fetch_index(store, index_blob_id)
    if expected_manifest is not None and index.manifest != expected_manifest:
        raise BlobIntegrityError(
            f"the index describes manifest {index.manifest}, not the expected {expected_manifest}"
        )
    manifest_bytes = await read_blob(store, index.manifest_entry)
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise InvalidImageIndex(f"the manifest is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("mediaType") != MANIFEST_MEDIA_TYPE:
        raise InvalidImageIndex("the manifest is not an OCI image manifest")
    config = _descriptor(manifest.get("config"), "config")
    raw_layers = manifest.get("layers")
    if not isinstance(raw_layers, list):
        raise InvalidImageIndex("the manifest has no list of layers")
    layers = [_descriptor(layer, f"layer {i}") for i, layer in enumerate(raw_layers)]

    await anyio.Path(dest).mkdir(parents=True, exist_ok=True)
    async for _ in anyio.Path(dest).iterdir():
        raise FileExistsError(f"{dest} is not empty")
    blobs_dir = dest / "blobs" / "sha256"
    await anyio.Path(blobs_dir).mkdir(parents=True)
    await anyio.Path(blobs_dir / digest_hex(index.manifest)).write_bytes(manifest_bytes)
    unique = {d.digest: d for d in [config, *layers]}
    for descriptor in unique.values():
        entry = _entry_for(index, descriptor)
        await read_blob_to(store, entry, blobs_dir / digest_hex(descriptor.digest))

    ref = {"org.opencontainers.image.ref.name": repo_tag} if repo_tag else None
    oci_index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": index.manifest,
                "size": len(manifest_bytes),
                **({"annotations": ref} if ref else {}),
            }
        ],
    }
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{digest_hex(config.digest)}",
            "RepoTags": [repo_tag] if repo_tag else [],
            "Layers": [f"blobs/sha256/{digest_hex(layer.digest)}" for layer in layers],
        }
    ]
    await anyio.Path(dest / "oci-layout").write_bytes(_LAYOUT_FILE)
    await anyio.Path(dest / "index.json").write_bytes(_compact(oci_index))
    await anyio.Path(dest / "manifest.json").write_bytes(_compact(docker_manifest))
    return PulledImage(
        dest, index, index.manifest, config.digest, tuple(layer.digest for layer in layers)
    )


def _compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def write_image_tar(layout_dir: Path, out: BinaryIO) -> None:
    """Tar the layout written by `pull_image` (sorted names, fixed metadata): for `docker load`."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        paths = sorted(p for p in layout_dir.rglob("*"))
        for path in paths:
            name = path.relative_to(layout_dir).as_posix()
            info = tarfile.TarInfo(name)
            info.mtime = _FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = path.stat().st_size
                info.mode = 0o644
                with path.open("rb") as file:
                    tar.addfile(info, file)


def image_tar_bytes(layout_dir: Path) -> bytes:
    """`write_image_tar` into memory (small images, tests)."""
    buffer = io.BytesIO()
    write_image_tar(layout_dir, buffer)
    return buffer.getvalue()
