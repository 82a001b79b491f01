"""Repositories: one module per table family, plain functions taking a ``Session`` first.

They flush at most and never commit: the caller owns the unit of work, so an indexer batch writes its
rows and its watermark in one transaction. Use them module-qualified, then commit yourself::

    from daas.db.repos import builds
    with session_scope(engine) as session:
        build = builds.claim_next(session, owner=runner_id, lease_ms=60_000, max_attempts=3)
        ...  # the caller commits here: claims must be committed at once to take effect
"""

from __future__ import annotations

from daas.db.repos import (
    artifacts,
    builds,
    enclaves,
    events,
    heartbeats,
    layers,
    leases,
    logs,
    rejected,
    watermarks,
)

__all__ = [
    "artifacts",
    "builds",
    "enclaves",
    "events",
    "heartbeats",
    "layers",
    "leases",
    "logs",
    "rejected",
    "watermarks",
]
