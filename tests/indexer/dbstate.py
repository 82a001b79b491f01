"""What the indexer wrote, as plain data that two runs can be compared by."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# Columns that differ between two correct runs: wall-clock times and database-assigned ids.
_VOLATILE = {"updated_at_ms", "created_at_ms", "id"}
_NOT_INDEXER = {"lease_owner", "lease_expires_at_ms"}


def _rows(connection: sa.Connection, table: str, order: str) -> list[dict[str, Any]]:
    result = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
    return [
        {k: v for k, v in row._mapping.items() if k not in _VOLATILE | _NOT_INDEXER}
        for row in result
    ]


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Every indexer-written table; events in id order (ids themselves may have gaps on PostgreSQL)."""
    with engine.connect() as connection:
        event_ids = [
            r[0] for r in connection.execute(sa.text("SELECT id FROM build_events ORDER BY id"))
        ]
        assert event_ids == sorted(set(event_ids))
        return {
            "builds": _rows(connection, "builds", "request_id"),
            "build_events": _rows(connection, "build_events", "id"),
            "enclaves": _rows(connection, "enclaves", "enclave_id"),
            "rejected_events": _rows(connection, "rejected_events", "tx_digest, event_seq"),
            "watermarks": _rows(connection, "watermarks", "pipeline"),
        }


def watermark(engine: sa.Engine, pipeline: str = "daas_events") -> int | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT checkpoint_hi_inclusive FROM watermarks WHERE pipeline = :p"),
            {"p": pipeline},
        ).scalar()
