"""The stand-in's state file: an append-only SQLite log of ledger operations.

Each state change of `SuiNode` (genesis, transaction, faucet, checkpoint, prune) is one row, written in its
own SQLite transaction, so the file is never half-written. Restarting replays the rows in order, which
rebuilds the same chain id, objects, transactions and checkpoints (the model is deterministic).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class OpLog:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every INSERT is its own atomic transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ops ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        (version,) = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if int(version) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: state file schema {version}, expected {SCHEMA_VERSION}")

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM ops LIMIT 1").fetchone() is None

    def append(self, kind: str, body: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO ops (kind, body) VALUES (?, ?)", (kind, json.dumps(body, sort_keys=True))
        )

    def read(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for kind, body in self._db.execute("SELECT kind, body FROM ops ORDER BY seq"):
            yield str(kind), json.loads(body)

    def close(self) -> None:
        self._db.close()
