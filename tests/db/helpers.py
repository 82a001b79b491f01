"""Builders of valid rows for the database tests."""

from __future__ import annotations

import hashlib

from daas.db.models import Build, Enclave

REQUESTER = "0x" + "ab" * 32
OTHER_REQUESTER = "0x" + "cd" * 32


def object_id(n: int) -> str:
    """A chain object id (`0x` + 64 lowercase hex) that sorts by `n`."""
    return f"0x{n:064x}"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_build(
    n: int, *, created_at_ms: int | None = None, requester: str = REQUESTER, fee: int = 10_000_000
) -> Build:
    """Build `n` as the indexer records it from a `BuildRequested` event."""
    created = 1_700_000_000_000 + n * 1_000 if created_at_ms is None else created_at_ms
    return Build(
        request_id=object_id(n),
        requester=requester,
        source_blob_id=f"blob-{n}",
        source_sha256=sha256_hex(f"source {n}"),
        dockerfile_path="Dockerfile",
        platform="linux/amd64",
        spec_digest=sha256_hex(f"spec {n}"),
        fee=fee,
        created_at_ms=created,
        deadline_ms=created + 3_600_000,
        request_tx_digest=f"TxDigest{n}",
        request_checkpoint=100 + n,
    )


def make_enclave(n: int, *, config_id: str | None = None, debug: bool = False) -> Enclave:
    return Enclave(
        enclave_id=object_id(0xE000 + n),
        config_id=config_id or object_id(0xC000),
        config_version=1,
        pk=sha256_hex(f"pk {n}"),
        owner=REQUESTER,
        debug=debug,
        pcr0="00" * 48 if debug else "a0" * 48,
        pcr1="00" * 48 if debug else "a1" * 48,
        pcr2="00" * 48 if debug else "a2" * 48,
        attestation_timestamp_ms=0 if debug else 1_700_000_000_000,
        registered_checkpoint=50 + n,
        tx_digest=f"EnclaveTx{n}",
    )
