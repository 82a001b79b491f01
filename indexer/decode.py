"""Decode stage: a checkpoint in, the changes our package's events make to the database out.

An event is ours when its type's *defining* package is one of our package ids (`0xPKG::module::Name`). After
a package upgrade, types introduced by the first version keep the original package id, so matching on the
defining package, not on the package that was called, keeps working across upgrades; types introduced by
an upgrade carry the new id, which is added with `PackageFilter.add`. Events of other packages are skipped.

Our events are decoded with the shared codecs (`daas.chain.codecs`). One that does not decode, or whose
values the database cannot hold, becomes a `Rejection` (kept raw, with the reason); an event name this
version does not know is kept raw the same way, marked `unknown`. Neither stops ingestion.

Nothing here touches the database: `indexer.commit` writes what this stage produces.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from daas.chain.bcs import Struct, normalize_address
from daas.chain.codecs import (
    BuildCancelled,
    BuildFailed,
    BuildRequested,
    BuildSucceeded,
    EnclaveDestroyed,
    EnclaveRegistered,
    EventType,
    event_class,
)
from daas.chain.types import ChainEvent, Checkpoint
from daas.db.models import BuildStatus, BuildStep
from daas.errors import BuildFailureCode, CodecError

__all__ = [
    "BUILD_COLUMNS",
    "BuildRequestedRow",
    "BuildSettled",
    "DecodedCheckpoint",
    "Decoder",
    "EnclaveGone",
    "EnclaveRow",
    "PackageFilter",
    "Rejection",
]

# Column limits of the tables we write (see `daas.db.models`); checked here so a value that does not fit
# becomes a rejection instead of a failing batch that would block ingestion forever.
_HEX32_LEN = 64
_TX_DIGEST_LEN = 64
_BLOB_ID_LEN = 128
_LIMITS = {
    "source_blob_id": _BLOB_ID_LEN,
    "dockerfile_path": 256,
    "platform": 32,
    "image_index_blob_id": _BLOB_ID_LEN,
    "log_blob_id": _BLOB_ID_LEN,
}
_HEX32_FIELDS = ("source_sha256", "spec_digest", "image_digest", "log_digest")
_MAX_BIGINT = 2**63 - 1  # PostgreSQL BIGINT; Move u64 values above it cannot be stored
_CACHE_LIMIT = 4096


class RejectedValue(ValueError):
    """An event of ours that decoded but cannot be stored as it is."""


# The columns of a `BuildRequestedRow.values` tuple, in order; the commit stage adds `updated_at_ms`.
BUILD_COLUMNS: tuple[str, ...] = (
    "request_id",
    "requester",
    "source_blob_id",
    "source_sha256",
    "dockerfile_path",
    "platform",
    "spec_digest",
    "fee",
    "status",
    "step",
    "attempts",
    "request_tx_digest",
    "request_checkpoint",
    "created_at_ms",
    "deadline_ms",
)
_PENDING = BuildStatus.PENDING.value
_QUEUED = BuildStep.QUEUED.value


@dataclasses.dataclass(frozen=True, slots=True)
class BuildRequestedRow:
    """A `BuildRequested` event as a `builds` row: plain values in `BUILD_COLUMNS` order (a tuple, not a
    dict: the commit stage passes it to the driver as it is, with no per-value work)."""

    request_id: str
    values: tuple[Any, ...]
    tx_digest: str

    @property
    def row(self) -> dict[str, Any]:
        """Column name -> value (for reading; the hot path uses `values`)."""
        return dict(zip(BUILD_COLUMNS, self.values, strict=True))


@dataclasses.dataclass(frozen=True, slots=True)
class BuildSettled:
    """`BuildSucceeded`, `BuildFailed` or `BuildCancelled`: a final status and the result fields."""

    request_id: str
    status: BuildStatus
    fields: dict[str, Any]  # keyword arguments of `repos.builds.advance_status`
    details: dict[str, Any]  # extra facts for the SSE payload (fees, refunds)
    tx_digest: str


@dataclasses.dataclass(frozen=True, slots=True)
class EnclaveRow:
    """An `EnclaveRegistered` event as an `enclaves` row."""

    enclave_id: str
    row: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class EnclaveGone:
    """An `EnclaveDestroyed` event."""

    enclave_id: str


Change = BuildRequestedRow | BuildSettled | EnclaveRow | EnclaveGone


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """An event of ours kept raw: it did not decode, did not fit, or has a name we do not know."""

    tx_digest: str
    event_seq: int
    event_type: str
    raw_bcs: bytes
    reason: str
    unknown: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class DecodedCheckpoint:
    """What one checkpoint changes, in chain order, plus what the watermark needs."""

    sequence_number: int
    timestamp_ms: int | None
    transactions: int
    changes: tuple[Change, ...]
    rejections: tuple[Rejection, ...]
    event_counts: dict[str, int]  # our events by name (`BuildRequested`...), rejected ones included
    received_at: float  # time.monotonic() when the checkpoint arrived, for the latency metric


@dataclasses.dataclass(frozen=True, slots=True)
class _Kind:
    """The classification of one event type string, cached: ours or not, and which layout."""

    ours: bool
    module: str = ""
    name: str = ""
    layout: type[Struct] | None = None


_NOT_OURS = _Kind(False)


class PackageFilter:
    """Which event types are ours: those defined by one of our package ids."""

    def __init__(self, package_ids: Iterable[str]) -> None:
        self._packages: set[str] = set()
        self._cache: dict[str, _Kind] = {}
        for package_id in package_ids:
            self.add(package_id)
        if not self._packages:
            raise ValueError("at least one package id is needed")

    @property
    def package_ids(self) -> frozenset[str]:
        return frozenset(self._packages)

    def add(self, package_id: str) -> None:
        """Accept types defined by another version of our package (an upgrade's new types)."""
        self._packages.add(normalize_address(package_id))
        self._cache.clear()

    def classify(self, event_type: str) -> _Kind:
        kind = self._cache.get(event_type)
        if kind is None:
            kind = self._classify(event_type)
            if len(self._cache) >= _CACHE_LIMIT:  # other packages' types are unbounded
                self._cache.clear()
            self._cache[event_type] = kind
        return kind

    def _classify(self, event_type: str) -> _Kind:
        try:
            parsed = EventType.parse(event_type)
        except CodecError:
            # Generic types (`0x2::coin::CoinEvent<...>`) and malformed strings: ours has neither, but a
            # generic type defined by our package is still ours and still unknown.
            head = event_type.split("<", 1)[0].split("::")
            try:
                package = normalize_address(head[0])
            except CodecError:
                return _NOT_OURS
            if package in self._packages:
                return _Kind(True, head[1] if len(head) > 1 else "", event_type)
            return _NOT_OURS
        if parsed.package not in self._packages:
            return _NOT_OURS
        return _Kind(True, parsed.module, parsed.name, event_class(parsed.module, parsed.name))


class Decoder:
    """Turns checkpoints into `DecodedCheckpoint`s; pure and synchronous (the pipeline runs it)."""

    def __init__(self, packages: PackageFilter) -> None:
        self.packages = packages

    def decode(
        self, checkpoint: Checkpoint, *, received_at: float | None = None
    ) -> DecodedCheckpoint:
        sequence = checkpoint.sequence_number
        changes: list[Change] = []
        rejections: list[Rejection] = []
        counts: Counter[str] = Counter()
        classify = self.packages.classify
        for tx in checkpoint.transactions:
            for event in tx.events:
                kind = classify(event.event_type)
                if not kind.ours:
                    continue
                counts[kind.name] += 1
                if kind.layout is None:
                    rejections.append(
                        _rejection(
                            tx.digest,
                            event,
                            f"unknown event {kind.module}::{kind.name}: kept raw for a newer indexer",
                            unknown=True,
                        )
                    )
                    continue
                try:
                    value = kind.layout.from_bcs(event.contents)
                    change = _change(value, tx.digest, sequence, checkpoint.timestamp_ms)
                except (CodecError, RejectedValue) as exc:
                    rejections.append(_rejection(tx.digest, event, str(exc)))
                    continue
                if change is not None:
                    changes.append(change)
        return DecodedCheckpoint(
            sequence_number=sequence,
            timestamp_ms=checkpoint.timestamp_ms,
            transactions=len(checkpoint.transactions),
            changes=tuple(changes),
            rejections=tuple(rejections),
            event_counts=dict(counts),
            received_at=time.monotonic() if received_at is None else received_at,
        )


def _rejection(
    tx_digest: str, event: ChainEvent, reason: str, *, unknown: bool = False
) -> Rejection:
    return Rejection(
        tx_digest, event.index, event.event_type, bytes(event.contents), reason, unknown
    )


def _change(
    value: Struct, tx_digest: str, checkpoint: int, timestamp_ms: int | None
) -> Change | None:
    """The database change an event makes; None for events that only matter on chain."""
    _check_text(tx_digest, "transaction digest", _TX_DIGEST_LEN)
    if isinstance(value, BuildRequested):
        return _requested(value, tx_digest, checkpoint)
    if isinstance(value, BuildSucceeded):
        fields = {
            "enclave_id": value.enclave_id,
            "image_digest": value.image_digest.hex(),
            "image_index_blob_id": value.image_index_blob_id,
            "log_digest": value.log_digest.hex(),
            "log_blob_id": value.log_blob_id,
            "result_timestamp_ms": value.timestamp_ms,
        }
        details = {"config_version": value.config_version, "fee_paid": value.fee_paid}
        return _settled(
            value.request_id, BuildStatus.SUCCEEDED, fields, details, tx_digest, checkpoint
        )
    if isinstance(value, BuildFailed):
        fields = {
            "enclave_id": value.enclave_id,
            "log_digest": value.log_digest.hex(),
            "log_blob_id": value.log_blob_id,
            "error_code": value.error_code,
            "error_message": _failure_text(value.error_code),
            "result_timestamp_ms": value.timestamp_ms,
        }
        details = {
            "config_version": value.config_version,
            "fee_paid": value.fee_paid,
            "refunded": value.refunded,
        }
        return _settled(
            value.request_id, BuildStatus.FAILED, fields, details, tx_digest, checkpoint
        )
    if isinstance(value, BuildCancelled):
        fields = {"result_timestamp_ms": value.cancelled_at_ms}
        details = {"refunded": value.refunded}
        return _settled(
            value.request_id, BuildStatus.CANCELLED, fields, details, tx_digest, checkpoint
        )
    if isinstance(value, EnclaveRegistered):
        row = {
            "enclave_id": value.enclave_id,
            "config_id": value.config_id,
            "config_version": _bigint(value.config_version, "config_version"),
            "pk": value.pk.hex(),
            "owner": value.owner,
            "debug": value.debug,
            "pcr0": value.pcr0.hex(),
            "pcr1": value.pcr1.hex(),
            "pcr2": value.pcr2.hex(),
            "attestation_timestamp_ms": _bigint(value.attestation_timestamp_ms, "timestamp"),
            "registered_checkpoint": checkpoint,
            "tx_digest": tx_digest,
        }
        for name, text, limit in (
            ("pk", value.pk.hex(), 64),
            ("pcr0", value.pcr0.hex(), 96),
            ("pcr1", value.pcr1.hex(), 96),
            ("pcr2", value.pcr2.hex(), 96),
        ):
            _check_text(text, name, limit)
        return EnclaveRow(value.enclave_id, row)
    if isinstance(value, EnclaveDestroyed):
        return EnclaveGone(value.enclave_id)
    # RegistryUpdated, PcrsUpdated: facts about shared objects the API reads from chain when needed.
    return None


def _requested(value: BuildRequested, tx_digest: str, checkpoint: int) -> BuildRequestedRow:
    # The same checks as `_check_row`, written out: this runs once per event on the hot path.
    source_sha256 = value.source_sha256.hex()
    spec_digest = value.spec_digest.hex()
    _check_text(value.source_blob_id, "source_blob_id", _BLOB_ID_LEN)
    _check_text(value.dockerfile_path, "dockerfile_path", _LIMITS["dockerfile_path"])
    _check_text(value.platform, "platform", _LIMITS["platform"])
    _check_text(source_sha256, "source_sha256", _HEX32_LEN)
    _check_text(spec_digest, "spec_digest", _HEX32_LEN)
    values = (
        value.request_id,
        value.requester,
        value.source_blob_id,
        source_sha256,
        value.dockerfile_path,
        value.platform,
        spec_digest,
        _bigint(value.fee, "fee"),
        _PENDING,
        _QUEUED,
        0,
        tx_digest,
        checkpoint,
        _bigint(value.created_at_ms, "created_at_ms"),
        _bigint(value.deadline_ms, "deadline_ms"),
    )
    return BuildRequestedRow(value.request_id, values, tx_digest)


def _settled(
    request_id: str,
    status: BuildStatus,
    fields: dict[str, Any],
    details: dict[str, Any],
    tx_digest: str,
    checkpoint: int,
) -> BuildSettled:
    fields["result_timestamp_ms"] = _bigint(fields["result_timestamp_ms"], "timestamp")
    _check_row(fields)
    fields.update(result_tx_digest=tx_digest, result_checkpoint=checkpoint)
    return BuildSettled(request_id, status, fields, details, tx_digest)


def _check_row(row: dict[str, Any]) -> None:
    for name, limit in _LIMITS.items():
        if name in row:
            _check_text(row[name], name, limit)
    for name in _HEX32_FIELDS:
        if name in row:
            _check_text(row[name], name, _HEX32_LEN)


def _check_text(value: str, name: str, limit: int) -> None:
    if len(value) > limit:
        raise RejectedValue(f"{name} is {len(value)} characters, the database holds {limit}")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; a Move String may. One such event must not block the batch.
        raise RejectedValue(f"{name} contains a NUL character, which the database cannot store")


def _bigint(value: int, name: str) -> int:
    if value > _MAX_BIGINT:
        raise RejectedValue(f"{name} {value} does not fit a signed 64-bit column")
    return value


def _failure_text(code: int) -> str | None:
    try:
        failure = BuildFailureCode(code)
    except ValueError:
        return None
    return failure.name.lower().replace("_", " ")
