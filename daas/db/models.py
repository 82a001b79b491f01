"""SQLModel tables of the DaaS database and the enums stored in them.

Conventions, the same in every table:

- Times are integers in **epoch milliseconds, UTC** (columns end in ``_ms``), like the chain's own clock;
  ``now_ms()`` gives the current one.
- Chain object ids and addresses are ``0x`` + 64 lowercase hex characters; sha256 digests, keys and PCRs
  are lowercase hex without a prefix; transaction digests are base58 as the chain prints them.
- Enums are stored as their short lower-case value (``VARCHAR(16)``), never as a native database enum,
  so adding a member needs no migration of existing rows.
- Every index and constraint is named explicitly, so the handwritten migration and this metadata agree
  on both SQLite and PostgreSQL.

The migrations in ``migrations/versions/`` must be kept in step with this file; the test
``tests/db/test_migrations.py`` fails when they differ.
"""

from __future__ import annotations

import enum
import time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "ArtifactKind",
    "Build",
    "BuildArtifact",
    "BuildEvent",
    "BuildLogLine",
    "BuildStatus",
    "BuildStep",
    "Enclave",
    "EventKind",
    "IndexedChain",
    "LayerBlob",
    "LogStream",
    "RejectedEvent",
    "RunnerHeartbeat",
    "Watermark",
    "metadata",
    "now_ms",
]

metadata = SQLModel.metadata


def now_ms() -> int:
    """The current time in epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000


class BuildStatus(enum.StrEnum):
    """On-chain status of a ``BuildRequest``; it only moves from PENDING to one final value."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self is not BuildStatus.PENDING

    @classmethod
    def from_chain(cls, code: int) -> BuildStatus:
        """Map the Move ``u8`` status (0 PENDING, 1 SUCCEEDED, 2 FAILED, 3 CANCELLED)."""
        try:
            return _STATUS_BY_CODE[code]
        except KeyError:
            raise ValueError(f"unknown on-chain build status {code}") from None


_STATUS_BY_CODE = {
    0: BuildStatus.PENDING,
    1: BuildStatus.SUCCEEDED,
    2: BuildStatus.FAILED,
    3: BuildStatus.CANCELLED,
}


class BuildStep(enum.StrEnum):
    """Where the runner is with a build; each change is an SSE-visible event."""

    QUEUED = "queued"
    FETCHING = "fetching"
    BUILDING = "building"
    EXPORTING = "exporting"
    ATTESTING = "attesting"
    SUBMITTING = "submitting"
    DONE = "done"


class EventKind(enum.StrEnum):
    """What a ``build_events`` row reports."""

    STATUS = "status"
    STEP = "step"
    LOG = "log"
    RESULT = "result"


class ArtifactKind(enum.StrEnum):
    """What a ``build_artifacts`` row describes: a blob the runner stored on Walrus for a build."""

    IMAGE_INDEX = "image_index"
    LOG = "log"
    KUBERNETES = "kubernetes"


class LogStream(enum.StrEnum):
    """Origin of a build log line: the build's own output, or a line the runner wrote about it."""

    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


def _enum_type(enum_cls: type[enum.Enum]) -> sa.Enum:
    # Stored by value ("pending", not "PENDING") in a plain VARCHAR: no native enum, no CHECK constraint.
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


# SQLite only auto-assigns keys to a column declared exactly INTEGER PRIMARY KEY (it is 64-bit anyway).
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Lengths the protocol fixes; free-form text is unbounded so both engines accept the same values.
OBJECT_ID = sa.String(66)
SHA256_HEX = sa.String(64)
TX_DIGEST = sa.String(64)
BLOB_ID = sa.String(128)
OCI_DIGEST = sa.String(71)  # "sha256:" + 64 hex digits


class Build(SQLModel, table=True):
    """One row per on-chain ``BuildRequest``: the request, the runner's progress and the posted result."""

    __tablename__ = "builds"
    __table_args__ = (
        sa.Index("ix_builds_status_step", "status", "step"),
        sa.Index("ix_builds_requester_created", "requester", "created_at_ms", "request_id"),
        sa.Index("ix_builds_created", "created_at_ms", "request_id"),
    )

    request_id: str = Field(sa_column=sa.Column(OBJECT_ID, primary_key=True))
    requester: str = Field(sa_type=OBJECT_ID, nullable=False)
    source_blob_id: str = Field(sa_type=BLOB_ID, nullable=False)
    source_sha256: str = Field(sa_type=SHA256_HEX, nullable=False)
    dockerfile_path: str = Field(sa_type=sa.String(256), nullable=False)
    platform: str = Field(sa_type=sa.String(32), nullable=False)
    spec_digest: str = Field(sa_type=SHA256_HEX, nullable=False)
    fee: int = Field(sa_type=sa.BigInteger, nullable=False)  # MIST

    status: BuildStatus = Field(
        default=BuildStatus.PENDING, sa_type=_enum_type(BuildStatus), nullable=False
    )
    step: BuildStep | None = Field(default=BuildStep.QUEUED, sa_type=_enum_type(BuildStep))

    lease_owner: str | None = Field(default=None, sa_type=sa.String(128))
    lease_expires_at_ms: int | None = Field(default=None, sa_type=sa.BigInteger)
    attempts: int = Field(default=0, sa_type=sa.Integer, nullable=False)

    enclave_id: str | None = Field(default=None, sa_type=OBJECT_ID)
    image_digest: str | None = Field(default=None, sa_type=SHA256_HEX)
    image_index_blob_id: str | None = Field(default=None, sa_type=BLOB_ID)
    log_digest: str | None = Field(default=None, sa_type=SHA256_HEX)
    log_blob_id: str | None = Field(default=None, sa_type=BLOB_ID)
    error_code: int | None = Field(default=None, sa_type=sa.Integer)
    error_message: str | None = Field(default=None, sa_type=sa.Text)
    result_timestamp_ms: int | None = Field(default=None, sa_type=sa.BigInteger)

    request_tx_digest: str | None = Field(default=None, sa_type=TX_DIGEST)
    result_tx_digest: str | None = Field(default=None, sa_type=TX_DIGEST)
    request_checkpoint: int | None = Field(default=None, sa_type=sa.BigInteger)
    result_checkpoint: int | None = Field(default=None, sa_type=sa.BigInteger)

    created_at_ms: int = Field(sa_type=sa.BigInteger, nullable=False)  # on-chain clock
    deadline_ms: int = Field(sa_type=sa.BigInteger, nullable=False)
    updated_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class BuildEvent(SQLModel, table=True):
    """An SSE event; ``id`` is the SSE event id, increasing in commit order (see ``repos.events``)."""

    __tablename__ = "build_events"
    __table_args__ = (
        sa.Index("ix_build_events_build_id_id", "build_id", "id"),
        {"sqlite_autoincrement": True},  # never reuse an id, even the highest after a delete
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    build_id: str = Field(
        sa_column=sa.Column(
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_events_build_id"),
            nullable=False,
        )
    )
    kind: EventKind = Field(sa_type=_enum_type(EventKind), nullable=False)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class BuildLogLine(SQLModel, table=True):
    """One line of a build's log; keyed by line number so writing a line twice changes nothing."""

    __tablename__ = "build_log_lines"

    build_id: str = Field(
        sa_column=sa.Column(
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_log_lines_build_id"),
            primary_key=True,
        )
    )
    line_no: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    stream: LogStream = Field(sa_type=_enum_type(LogStream), nullable=False)
    text: str = Field(sa_type=sa.Text, nullable=False)
    created_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class Watermark(SQLModel, table=True):
    """How far an indexer pipeline has committed; it only ever rises."""

    __tablename__ = "watermarks"

    pipeline: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    checkpoint_hi_inclusive: int = Field(sa_type=sa.BigInteger, nullable=False)
    tx_hi: int = Field(sa_type=sa.BigInteger, nullable=False)
    timestamp_ms_hi: int = Field(sa_type=sa.BigInteger, nullable=False)
    epoch_hi_inclusive: int = Field(sa_type=sa.BigInteger, nullable=False)
    updated_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class IndexedChain(SQLModel, table=True):
    """Which chain a pipeline indexes: a database never mixes two chains (a re-created localnet, say)."""

    __tablename__ = "indexed_chains"

    pipeline: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    chain_id: str = Field(sa_type=sa.String(64), nullable=False)
    recorded_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class Enclave(SQLModel, table=True):
    """An enclave registered on chain (``EnclaveRegistered``), and whether it was destroyed since."""

    __tablename__ = "enclaves"

    enclave_id: str = Field(sa_column=sa.Column(OBJECT_ID, primary_key=True))
    config_id: str = Field(sa_type=OBJECT_ID, nullable=False)
    config_version: int = Field(sa_type=sa.BigInteger, nullable=False)
    pk: str = Field(sa_type=sa.String(64), nullable=False)  # Ed25519 public key, hex
    owner: str = Field(sa_type=OBJECT_ID, nullable=False)
    debug: bool = Field(default=False, sa_type=sa.Boolean, nullable=False)
    pcr0: str = Field(sa_type=sa.String(96), nullable=False)
    pcr1: str = Field(sa_type=sa.String(96), nullable=False)
    pcr2: str = Field(sa_type=sa.String(96), nullable=False)
    attestation_timestamp_ms: int = Field(sa_type=sa.BigInteger, nullable=False)
    registered_checkpoint: int | None = Field(default=None, sa_type=sa.BigInteger)
    tx_digest: str | None = Field(default=None, sa_type=TX_DIGEST)
    destroyed: bool = Field(default=False, sa_type=sa.Boolean, nullable=False)


class RunnerHeartbeat(SQLModel, table=True):
    """The last sign of life of one runner process."""

    __tablename__ = "runner_heartbeats"

    runner_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    hostname: str = Field(sa_type=sa.Text, nullable=False)
    pid: int = Field(sa_type=sa.Integer, nullable=False)
    started_at_ms: int = Field(sa_type=sa.BigInteger, nullable=False)
    last_seen_at_ms: int = Field(sa_type=sa.BigInteger, nullable=False)
    current_build: str | None = Field(default=None, sa_type=OBJECT_ID)
    version: str = Field(sa_type=sa.Text, nullable=False)


class RejectedEvent(SQLModel, table=True):
    """A chain event of our package that the indexer could not accept, kept raw for inspection."""

    __tablename__ = "rejected_events"
    __table_args__ = (
        sa.UniqueConstraint(
            "tx_digest", "event_seq", name="uq_rejected_events_tx_digest_event_seq"
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    tx_digest: str = Field(sa_type=TX_DIGEST, nullable=False)
    # The event's index within its transaction.
    event_seq: int = Field(sa_type=sa.Integer, nullable=False)
    checkpoint: int = Field(sa_type=sa.BigInteger, nullable=False)
    event_type: str = Field(sa_type=sa.Text, nullable=False)
    raw_bcs: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    created_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)


class LayerBlob(SQLModel, table=True):
    """An image layer already stored on Walrus, by diff id: the runner's layer cache across builds.

    ``chunks`` lists the Walrus blobs whose concatenation is the compressed layer, in order, each as
    ``{"blobId", "size", "sha256"}`` (the image index's chunk format).
    """

    __tablename__ = "layer_blobs"

    diff_id: str = Field(sa_column=sa.Column(OCI_DIGEST, primary_key=True))
    digest: str = Field(sa_type=OCI_DIGEST, nullable=False)  # of the compressed layer
    media_type: str = Field(sa_type=sa.String(128), nullable=False)
    size: int = Field(sa_type=sa.BigInteger, nullable=False)  # of the compressed layer
    tar_size: int = Field(sa_type=sa.BigInteger, nullable=False)  # of the uncompressed layer tar
    chunks: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    stored_at_ms: int = Field(sa_type=sa.BigInteger, nullable=False)
    used_at_ms: int = Field(sa_type=sa.BigInteger, nullable=False)


class BuildArtifact(SQLModel, table=True):
    """A blob the runner stored on Walrus for a build: the image index, the log, the Kubernetes manifest.

    The chain records the image index and log blob ids with the result; the Kubernetes manifest is not
    signed, so this row is where its blob id (and, being small, its text) is found. ``blob_id`` is empty
    when storing failed (a failed build's log while Walrus was down).
    """

    __tablename__ = "build_artifacts"

    build_id: str = Field(
        sa_column=sa.Column(
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_artifacts_build_id"),
            primary_key=True,
        )
    )
    kind: ArtifactKind = Field(sa_column=sa.Column(_enum_type(ArtifactKind), primary_key=True))
    blob_id: str = Field(sa_type=BLOB_ID, nullable=False)
    sha256: str = Field(sa_type=SHA256_HEX, nullable=False)
    size: int = Field(sa_type=sa.BigInteger, nullable=False)
    media_type: str = Field(sa_type=sa.String(128), nullable=False)
    content: str | None = Field(default=None, sa_type=sa.Text)
    created_at_ms: int = Field(default_factory=now_ms, sa_type=sa.BigInteger, nullable=False)
