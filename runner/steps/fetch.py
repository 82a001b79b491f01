"""Fetching: the bundle from Walrus, checked against the on-chain spec, unpacked into a build context.

The spec binds the bundle by sha256 (`source_sha256`); the size is bounded by `runner.max_bundle_bytes`
while downloading. Blob errors become failure codes here: a blob that does not exist or is not the one the
spec names is the requester's fault, an unreachable Walrus ours. Unpacking (`daas.bundle.unpack_bundle`)
refuses anything unsafe with a `RequesterFault` naming the entry.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from daas.bundle import BundleLimits, UnpackedBundle, unpack_bundle
from daas.db.models import Build
from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobTooLarge,
    BuildFailureCode,
    InfrastructureFault,
    RequesterFault,
)
from daas.walrus.ports import BlobStore

__all__ = ["fetch_bundle"]

Code = BuildFailureCode


async def fetch_bundle(
    store: BlobStore, build: Build, *, limits: BundleLimits, work_dir: Path
) -> UnpackedBundle:
    """Download and unpack `build`'s bundle into `work_dir / "context"`. Raises `BuildError` only."""
    archive = work_dir / "bundle.tar.gz"
    expected = bytes.fromhex(build.source_sha256)
    blob = build.source_blob_id
    try:
        digest = await store.read_to(
            blob, archive, expected_sha256=expected, max_bytes=limits.max_bundle_bytes
        )
    except BlobNotFound as exc:
        raise RequesterFault(Code.BUNDLE_NOT_FOUND, f"the bundle blob {blob!r}: {exc}") from exc
    except BlobTooLarge as exc:
        raise RequesterFault(
            Code.BUNDLE_TOO_LARGE,
            f"the bundle blob {blob} is larger than {limits.max_bundle_bytes} bytes",
        ) from exc
    except BlobIntegrityError as exc:
        raise RequesterFault(
            Code.BUNDLE_DIGEST_MISMATCH,
            f"the bundle blob {blob} is not the one the spec names: {exc}",
        ) from exc
    except BlobStoreError as exc:
        raise InfrastructureFault(
            Code.BLOB_STORE_UNAVAILABLE, f"downloading the bundle {blob} failed: {exc}"
        ) from exc
    try:
        return await anyio.to_thread.run_sync(
            lambda: unpack_bundle(
                archive,
                work_dir / "context",
                expected_sha256=expected,
                expected_size=digest.size,
                limits=limits,
                dockerfile=build.dockerfile_path,
            )
        )
    except OSError as exc:
        raise InfrastructureFault(Code.INTERNAL, f"unpacking the bundle failed: {exc}") from exc
    finally:
        await anyio.Path(archive).unlink(missing_ok=True)
