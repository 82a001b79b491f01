"""Initial schema: builds, their events and log lines, watermarks, enclaves, heartbeats, rejections.

Revision ID: 0001
Revises:
Create Date: 2025-11-28

Written by hand and kept explicit (no reference to the models), so later edits of ``models.py`` cannot
change what this revision does. ``tests/db/test_migrations.py`` checks the result equals the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-assigns keys to a column declared exactly INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OBJECT_ID = sa.String(66)
SHA256_HEX = sa.String(64)
TX_DIGEST = sa.String(64)
BLOB_ID = sa.String(128)
ENUM = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("request_id", OBJECT_ID, primary_key=True),
        sa.Column("requester", OBJECT_ID, nullable=False),
        sa.Column("source_blob_id", BLOB_ID, nullable=False),
        sa.Column("source_sha256", SHA256_HEX, nullable=False),
        sa.Column("dockerfile_path", sa.String(256), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("spec_digest", SHA256_HEX, nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("step", ENUM, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("enclave_id", OBJECT_ID, nullable=True),
        sa.Column("image_digest", SHA256_HEX, nullable=True),
        sa.Column("image_index_blob_id", BLOB_ID, nullable=True),
        sa.Column("log_digest", SHA256_HEX, nullable=True),
        sa.Column("log_blob_id", BLOB_ID, nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result_timestamp_ms", sa.BigInteger(), nullable=True),
        sa.Column("request_tx_digest", TX_DIGEST, nullable=True),
        sa.Column("result_tx_digest", TX_DIGEST, nullable=True),
        sa.Column("request_checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("result_checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_builds_status_step", "builds", ["status", "step"])
    op.create_index(
        "ix_builds_requester_created", "builds", ["requester", "created_at_ms", "request_id"]
    )
    op.create_index("ix_builds_created", "builds", ["created_at_ms", "request_id"])

    op.create_table(
        "build_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "build_id",
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_events_build_id"),
            nullable=False,
        ),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_build_events_build_id_id", "build_events", ["build_id", "id"])

    op.create_table(
        "build_log_lines",
        sa.Column(
            "build_id",
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_log_lines_build_id"),
            primary_key=True,
        ),
        sa.Column("line_no", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("stream", ENUM, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "watermarks",
        sa.Column("pipeline", sa.String(64), primary_key=True),
        sa.Column("checkpoint_hi_inclusive", sa.BigInteger(), nullable=False),
        sa.Column("tx_hi", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_ms_hi", sa.BigInteger(), nullable=False),
        sa.Column("epoch_hi_inclusive", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "enclaves",
        sa.Column("enclave_id", OBJECT_ID, primary_key=True),
        sa.Column("config_id", OBJECT_ID, nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.Column("pk", sa.String(64), nullable=False),
        sa.Column("owner", OBJECT_ID, nullable=False),
        sa.Column("debug", sa.Boolean(), nullable=False),
        sa.Column("pcr0", sa.String(96), nullable=False),
        sa.Column("pcr1", sa.String(96), nullable=False),
        sa.Column("pcr2", sa.String(96), nullable=False),
        sa.Column("attestation_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("registered_checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("tx_digest", TX_DIGEST, nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
    )

    op.create_table(
        "runner_heartbeats",
        sa.Column("runner_id", sa.String(128), primary_key=True),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("current_build", OBJECT_ID, nullable=True),
        sa.Column("version", sa.Text(), nullable=False),
    )

    op.create_table(
        "rejected_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tx_digest", TX_DIGEST, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("raw_bcs", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "tx_digest", "event_seq", name="uq_rejected_events_tx_digest_event_seq"
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("rejected_events")
    op.drop_table("runner_heartbeats")
    op.drop_table("enclaves")
    op.drop_table("watermarks")
    op.drop_table("build_log_lines")
    op.drop_index("ix_build_events_build_id_id", table_name="build_events")
    op.drop_table("build_events")
    op.drop_index("ix_builds_created", table_name="builds")
    op.drop_index("ix_builds_requester_created", table_name="builds")
    op.drop_index("ix_builds_status_step", table_name="builds")
    op.drop_table("builds")
