"""The chain each indexer pipeline indexes, so a database never mixes two chains.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Written by hand, like 0001 and 0002: explicit columns, no reference to the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexed_chains",
        sa.Column("pipeline", sa.String(64), primary_key=True),
        sa.Column("chain_id", sa.String(64), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("indexed_chains")
