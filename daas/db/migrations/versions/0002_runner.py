"""Runner tables: the layer cache (layers already on Walrus) and the artifacts stored for each build.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-10

Written by hand, like 0001: explicit columns, no reference to the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OBJECT_ID = sa.String(66)
SHA256_HEX = sa.String(64)
BLOB_ID = sa.String(128)
OCI_DIGEST = sa.String(71)
ENUM = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "layer_blobs",
        sa.Column("diff_id", OCI_DIGEST, primary_key=True),
        sa.Column("digest", OCI_DIGEST, nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tar_size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=False),
        sa.Column("stored_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("used_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "build_artifacts",
        sa.Column(
            "build_id",
            OBJECT_ID,
            sa.ForeignKey("builds.request_id", name="fk_build_artifacts_build_id"),
            primary_key=True,
        ),
        sa.Column("kind", ENUM, primary_key=True),
        sa.Column("blob_id", BLOB_ID, nullable=False),
        sa.Column("sha256", SHA256_HEX, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("build_artifacts")
    op.drop_table("layer_blobs")
