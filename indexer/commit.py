"""Commit stage: one database transaction per batch of decoded checkpoints.

`BatchWriter.commit(batch)` writes, in one transaction:

1. build rows for `BuildRequested` (one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING`; a row that
   exists is left alone), then the final statuses of `BuildSucceeded` / `BuildFailed` / `BuildCancelled`
   (`repos.builds.advance_status`: PENDING -> final only, so a status never moves backwards);
2. enclave rows (`EnclaveRegistered`, `EnclaveDestroyed`) and rejected events, kept raw;
3. one `build_events` row per change that actually happened (a new build, a status that moved), in chain
   order, for the SSE feed: replaying a batch changes nothing and so adds no event;
4. the watermark, raised to the batch's last checkpoint;
5. a notification (PostgreSQL `NOTIFY`, delivered at commit) when builds changed.

A crash or an error anywhere before the commit leaves neither rows nor watermark, and the pipeline resumes
at watermark + 1. Bulk writes bypass the ORM (building ORM objects costs about 70 µs a row, ten times the
insert itself) and, on the hot path, SQLAlchemy's per-row parameter handling too: build rows arrive from the
decode stage as value tuples in `BUILD_COLUMNS` order and go to the driver as they are (SQLite: multi-row
INSERTs on the session's own connection; PostgreSQL: one statement over column arrays), and the watermark is
one plain upsert.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from daas.db import models, notify
from daas.db.engine import session_scope
from daas.db.models import Build, Enclave, EventKind
from daas.db.repos import builds, enclaves, events, rejected
from daas.errors import DatabaseError
from indexer.decode import (
    BUILD_COLUMNS,
    BuildRequestedRow,
    BuildSettled,
    DecodedCheckpoint,
    EnclaveGone,
    EnclaveRow,
)

__all__ = ["BatchOutcome", "BatchWriter", "FaultHook", "write_batch"]

# Test seam: called with the name of each point reached inside the transaction ("rows", "events",
# "watermark"); raising there shows what a failure at that point leaves behind.
FaultHook = Callable[[str], None]

_BUILDS: sa.Table = Build.__table__  # type: ignore[attr-defined]
_SQLITE_CHUNK = 500  # ids per IN (...) lookup, well below SQLite's limit on parameters
_SQLITE_ROWS = 256  # rows per multi-row INSERT (16 columns: 4,096 parameters, the limit is 32,766)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did."""

    first: int
    last: int
    builds_added: int
    statuses_changed: int
    events_written: int
    rejected: int
    seconds: float

    @property
    def builds_changed(self) -> bool:
        return self.builds_added > 0 or self.statuses_changed > 0


@dataclasses.dataclass
class _Totals:
    """Per-pipeline running totals the watermark row carries."""

    tx_hi: int = 0
    epoch_hi: int = 0
    timestamp_ms_hi: int = 0


class BatchWriter:
    """Commits batches for one pipeline on one engine. Synchronous: the pipeline runs it in a thread."""

    def __init__(
        self,
        engine: sa.Engine,
        pipeline: str,
        *,
        tx_hi: int = 0,
        timestamp_ms_hi: int = 0,
        fault: FaultHook | None = None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.fault = fault
        self._totals = _Totals(tx_hi=tx_hi, timestamp_ms_hi=timestamp_ms_hi)

    def commit(self, batch: Sequence[DecodedCheckpoint]) -> BatchOutcome:
        """Write and commit `batch` (consecutive checkpoints, in order); `DatabaseError` on failure."""
        started = time.perf_counter()
        tx_hi = self._totals.tx_hi + sum(cp.transactions for cp in batch)
        timestamp_hi = max([self._totals.timestamp_ms_hi, *(cp.timestamp_ms or 0 for cp in batch)])
        with session_scope(self.engine) as session:
            outcome = write_batch(
                session,
                self.pipeline,
                batch,
                tx_hi=tx_hi,
                timestamp_ms_hi=timestamp_hi,
                epoch_hi=self._totals.epoch_hi,
                fault=self.fault,
            )
            session.commit()
        # Only after the commit: a failed attempt must not count its transactions twice.
        self._totals.tx_hi = tx_hi
        self._totals.timestamp_ms_hi = timestamp_hi
        return dataclasses.replace(outcome, seconds=time.perf_counter() - started)


def write_batch(
    session: Session,
    pipeline: str,
    batch: Sequence[DecodedCheckpoint],
    *,
    tx_hi: int,
    timestamp_ms_hi: int,
    epoch_hi: int = 0,
    now_ms: int | None = None,
    fault: FaultHook | None = None,
) -> BatchOutcome:
    """Stage a batch's rows, events and watermark in `session`; the caller commits."""
    if not batch:
        raise ValueError("an empty batch")
    now = models.now_ms() if now_ms is None else now_ms
    requested = [c for cp in batch for c in cp.changes if isinstance(c, BuildRequestedRow)]
    new_ids = _insert_builds(session, requested, now)
    added = len(new_ids)
    moved = rejections = 0
    feed: list[_FeedRow] = []
    for cp in batch:
        for change in cp.changes:
            if isinstance(change, BuildRequestedRow):
                if change.request_id in new_ids:
                    new_ids.discard(change.request_id)
                    feed.append(_requested_event(change, cp))
            elif isinstance(change, BuildSettled):
                if builds.advance_status(
                    session, change.request_id, change.status, now_ms=now, **change.fields
                ):
                    moved += 1
                    feed.append(_settled_event(change, cp))
            elif isinstance(change, EnclaveRow):
                enclaves.upsert(session, Enclave(**change.row))
            elif isinstance(change, EnclaveGone):
                enclaves.mark_destroyed(session, change.enclave_id)
        for item in cp.rejections:
            rejections += rejected.record(
                session,
                tx_digest=item.tx_digest,
                event_seq=item.event_seq,
                checkpoint=cp.sequence_number,
                event_type=item.event_type,
                raw_bcs=item.raw_bcs,
                reason=item.reason,
                now_ms=now,
            )
    if fault is not None:
        fault("rows")
    # Events last: on PostgreSQL appending takes the lock that keeps event ids in commit order.
    _append_events(session, feed, now)
    if fault is not None:
        fault("events")
    last = batch[-1]
    _advance_watermark(
        session, (pipeline, last.sequence_number, tx_hi, timestamp_ms_hi, epoch_hi, now)
    )
    if fault is not None:
        fault("watermark")
    if added or moved:
        notify.publish(session, payload=str(last.sequence_number))
    return BatchOutcome(
        first=batch[0].sequence_number,
        last=last.sequence_number,
        builds_added=added,
        statuses_changed=moved,
        events_written=len(feed),
        rejected=rejections,
        seconds=0.0,
    )


def _insert_builds(session: Session, rows: Sequence[BuildRequestedRow], now: int) -> set[str]:
    """Insert the builds that do not exist yet; the ids of those inserted."""
    if not rows:
        return set()
    if _is_postgres(session):
        return _insert_builds_postgres(session, rows, now)
    return _insert_builds_sqlite(session, rows, now)


_BUILD_INSERT_COLUMNS = (*BUILD_COLUMNS, "updated_at_ms")


def _insert_builds_sqlite(
    session: Session, rows: Sequence[BuildRequestedRow], now: int
) -> set[str]:
    # The driver itself, with the decode stage's value tuples as they are: SQLAlchemy's per-row parameter
    # handling (and its multi-row VALUES statement, needed for RETURNING) costs more than SQLite's insert.
    # The ids that are new come from one lookup first; only this pipeline inserts builds, inside this
    # transaction.
    ids = [row.request_id for row in rows]
    with _sqlite(session) as connection:
        existing: set[str] = set()
        for start in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[start : start + _SQLITE_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT request_id FROM builds WHERE request_id IN ({marks})"
            existing.update(row[0] for row in connection.execute(query, chunk))
        fresh: dict[str, tuple[Any, ...]] = {}
        tail = (now,)
        for row in rows:
            if row.request_id not in existing and row.request_id not in fresh:
                fresh[row.request_id] = row.values + tail
        _insert_rows(
            connection,
            f"INSERT INTO builds ({', '.join(_BUILD_INSERT_COLUMNS)}) VALUES ",
            " ON CONFLICT (request_id) DO NOTHING",
            list(fresh.values()),
        )
    return set(fresh)


def _insert_rows(
    connection: sqlite3.Connection, head: str, tail: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Multi-row INSERTs of up to `_SQLITE_ROWS` rows each.

    One statement per chunk instead of one step per row: SQLite inserts the whole chunk in one call that
    runs without the GIL, so the event loop keeps parsing on the other core meanwhile, and the statement
    text repeats, so the driver's statement cache prepares it once.
    """
    if not rows:
        return
    width = len(rows[0])
    group = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[start : start + _SQLITE_ROWS]
        values = [value for row in chunk for value in row]
        connection.execute(head + ",".join([group] * len(chunk)) + tail, values)


@contextlib.contextmanager
def _sqlite(session: Session) -> Iterator[sqlite3.Connection]:
    """The session's own sqlite3 connection (same transaction); its errors become `DatabaseError`."""
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, sqlite3.Connection)
    try:
        yield connection
    except sqlite3.Error as exc:
        raise DatabaseError(f"database error: {exc}") from exc


def _insert_builds_postgres(
    session: Session, rows: Sequence[BuildRequestedRow], now: int
) -> set[str]:
    # One statement over column arrays: psycopg rewrites a multi-row VALUES statement's thousands of
    # placeholders on every call, which costs more than the insert itself (~100 µs a row).
    arrays = {
        name: _pg_array(column)
        for name, column in zip(
            BUILD_COLUMNS, zip(*(row.values for row in rows), strict=True), strict=True
        )
    }
    arrays["updated_at_ms"] = _pg_array([now] * len(rows))
    casts = ", ".join(f"CAST(:{name} AS {_pg_array_type(name)})" for name in _BUILD_INSERT_COLUMNS)
    stmt = sa.text(
        f"INSERT INTO builds ({', '.join(_BUILD_INSERT_COLUMNS)}) SELECT * FROM unnest({casts}) "
        "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
    )
    return set(session.execute(stmt, arrays).scalars())


def _pg_array(values: Sequence[str | int]) -> str:
    """A PostgreSQL array literal; built here because psycopg adapts lists element by element (~3 µs
    each). Values are never None (only NOT NULL columns are written this way)."""
    if values and isinstance(values[0], int):
        return "{" + ",".join(str(v) for v in values) + "}"
    quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + '","'.join(quoted) + '"}'


def _pg_array_type(column: str) -> str:
    kind = _BUILDS.c[column].type
    if isinstance(kind, sa.BigInteger):
        return "bigint[]"
    if isinstance(kind, sa.Integer):
        return "integer[]"
    return "text[]"


def _append_events(session: Session, feed: Sequence[_FeedRow], now: int) -> None:
    """`repos.events.append_many` without returning the new ids, which the indexer does not need.

    Same ordering guarantee (the transaction-scoped advisory lock on PostgreSQL, held to the commit), but
    one statement over column arrays on PostgreSQL and the driver's `executemany` on SQLite: asking for the
    ids back in order makes SQLAlchemy insert row by row there.
    """
    if not feed:
        return
    if _is_postgres(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(events.EVENTS_LOCK_KEY)))
        # Column arrays again; WITH ORDINALITY keeps ids in the order of the feed.
        stmt = sa.text(
            "INSERT INTO build_events (build_id, kind, payload, created_at_ms) "
            "SELECT b, k, CAST(p AS json), :now FROM unnest(CAST(:b AS text[]), "
            "CAST(:k AS text[]), CAST(:p AS text[])) WITH ORDINALITY AS e(b, k, p, n) ORDER BY n"
        )
        session.execute(
            stmt,
            {
                "b": _pg_array([row[0] for row in feed]),
                "k": _pg_array([row[1] for row in feed]),
                "p": _pg_array([row[2] for row in feed]),
                "now": now,
            },
        )
        return
    rows = [(*row, now) for row in feed]
    with _sqlite(session) as connection:
        # Rows of one statement get increasing ids in the order they are listed.
        _insert_rows(
            connection,
            "INSERT INTO build_events (build_id, kind, payload, created_at_ms) VALUES ",
            "",
            rows,
        )


# `repos.watermarks.advance` as one plain statement: building and compiling that upsert through SQLAlchemy
# costs more than a small batch's inserts. Same effect: created if absent, raised only to a higher
# checkpoint, never lowered (a replayed batch changes nothing).
_WATERMARK_UPSERT = (
    "INSERT INTO watermarks (pipeline, checkpoint_hi_inclusive, tx_hi, timestamp_ms_hi, "
    "epoch_hi_inclusive, updated_at_ms) VALUES ({marks}) ON CONFLICT (pipeline) DO UPDATE SET "
    "checkpoint_hi_inclusive = excluded.checkpoint_hi_inclusive, tx_hi = excluded.tx_hi, "
    "timestamp_ms_hi = excluded.timestamp_ms_hi, epoch_hi_inclusive = excluded.epoch_hi_inclusive, "
    "updated_at_ms = excluded.updated_at_ms "
    "WHERE watermarks.checkpoint_hi_inclusive < excluded.checkpoint_hi_inclusive"
)
_WATERMARK_SQLITE = _WATERMARK_UPSERT.format(marks="?, ?, ?, ?, ?, ?")
_WATERMARK_POSTGRES = sa.text(_WATERMARK_UPSERT.format(marks=":p, :c, :t, :ts, :e, :u"))


def _advance_watermark(session: Session, values: tuple[str, int, int, int, int, int]) -> None:
    """(pipeline, checkpoint_hi_inclusive, tx_hi, timestamp_ms_hi, epoch_hi_inclusive, updated_at_ms)."""
    if _is_postgres(session):
        session.execute(
            _WATERMARK_POSTGRES, dict(zip(("p", "c", "t", "ts", "e", "u"), values, strict=True))
        )
        return
    with _sqlite(session) as connection:
        connection.execute(_WATERMARK_SQLITE, values)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# (build id, kind, payload as JSON text): the JSON is written once, here.
_FeedRow = tuple[str, str, str]
_PENDING = EventKind.STATUS.value


def _requested_event(change: BuildRequestedRow, cp: DecodedCheckpoint) -> _FeedRow:
    # The one event of every request: formatted directly (json.dumps of a dict costs ~2 µs an event);
    # the same keys as `_settled_event`'s payloads, checked by the tests.
    timestamp = "null" if cp.timestamp_ms is None else str(cp.timestamp_ms)
    payload = (
        f'{{"status": "pending", "source": "chain", "checkpoint": {cp.sequence_number}, '
        f'"tx_digest": {json.dumps(change.tx_digest)}, "chain_timestamp_ms": {timestamp}, '
        '"final": false}'
    )
    return change.request_id, _PENDING, payload


def _settled_event(change: BuildSettled, cp: DecodedCheckpoint) -> _FeedRow:
    payload: dict[str, Any] = {
        "status": change.status.value,
        "source": "chain",
        "checkpoint": cp.sequence_number,
        "tx_digest": change.tx_digest,
        "chain_timestamp_ms": cp.timestamp_ms,
        "final": True,
    }
    payload.update(
        (k, v)
        for k, v in change.fields.items()
        if k not in ("result_tx_digest", "result_checkpoint") and v is not None
    )
    payload.update(change.details)
    # A result (succeeded or failed) carries what the enclave signed; a cancellation is a plain status.
    kind = EventKind.STATUS if change.status is models.BuildStatus.CANCELLED else EventKind.RESULT
    return change.request_id, kind.value, json.dumps(payload)
