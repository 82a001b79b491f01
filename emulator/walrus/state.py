"""What the Walrus stand-in remembers: blob contents, the Sui `Blob` objects that certify them, and the epoch.

On Walrus a blob is readable while at least one certified `Blob` object covers the current epoch
(`start_epoch <= epoch < end_epoch`). Storing the same bytes again adds objects, never content. The stand-in keeps
the same model: content is keyed by blob id; objects carry the epochs, the owner and the certification digest.

With a storage directory, state survives a restart: content files under ``blobs/`` (written to a temporary name,
flushed and renamed, so a crash never leaves a half file under a real name) and ``index.json`` (the objects, the
epoch and the id counter, rewritten the same way after every change). Content is always written before the index
that refers to it. Without a directory everything stays in memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INDEX_VERSION = 1
PUBLISHER_OWNER = "publisher"  # objects kept by the publisher's own wallet (no `send_object_to`)


@dataclasses.dataclass(frozen=True)
class BlobObject:
    """A certified `Blob` object on (stand-in) Sui."""

    object_id: str
    blob_id: str
    size: int
    encoded_length: int
    registered_epoch: int
    certified_epoch: int
    end_epoch: int
    deletable: bool
    storage_id: str
    owner: str  # PUBLISHER_OWNER or the 0x address it was sent to
    tx_digest: str  # the transaction whose `BlobCertified` event certified it
    shared_object_id: str | None = None

    @property
    def start_epoch(self) -> int:
        return self.registered_epoch

    def covers(self, epoch: int) -> bool:
        return self.start_epoch <= epoch < self.end_epoch

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlobObject:
        return cls(**data)


class EpochClock:
    """Virtual Walrus epochs: advanced on demand, and optionally by a timer (`duration_s` per epoch)."""

    def __init__(
        self,
        start: int = 1,
        *,
        duration_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start < 0:
            raise ValueError("epochs start at 0")
        if duration_s is not None and duration_s <= 0:
            raise ValueError("an epoch lasts a positive time")
        self._base = start
        self._duration_s = duration_s
        self._monotonic = monotonic
        self._t0 = monotonic()

    @property
    def current(self) -> int:
        if self._duration_s is None:
            return self._base
        return self._base + int((self._monotonic() - self._t0) / self._duration_s)

    def advance(self, epochs: int = 1) -> int:
        """Move `epochs` forward (never back: blobs that expired stay expired). Returns the new epoch."""
        if epochs < 0:
            raise ValueError("epochs only move forward")
        self._base += epochs
        return self.current

    def resume_at_least(self, epoch: int) -> None:
        """After a restart: never run behind the epoch persisted by the previous run."""
        if epoch > self.current:
            self._base += epoch - self.current


class Ledger:
    """Blob contents and objects, in memory or under a directory.

    Methods are synchronous; the server calls the ones that touch the disk from a worker thread, one at a time.
    """

    def __init__(self, storage_dir: Path | None, clock: EpochClock) -> None:
        self.storage_dir = storage_dir
        self.clock = clock
        self._memory: dict[str, bytes] = {}
        self._objects: dict[str, BlobObject] = {}
        self._by_blob: dict[str, list[str]] = {}
        self._shared: dict[str, str] = {}  # shared blob object id -> Blob object id
        self._counter = 0
        # Index writes come from worker threads (stores) and the event loop (epoch changes); the snapshot is
        # taken under this lock at write time, so the last file written is always the latest state.
        self._save_lock = threading.Lock()
        if storage_dir is not None:
            (storage_dir / "blobs").mkdir(parents=True, exist_ok=True)
            self._load()

    # --- queries ------------------------------------------------------------------------------------------

    @property
    def index_path(self) -> Path | None:
        return None if self.storage_dir is None else self.storage_dir / "index.json"

    def object_count(self) -> int:
        return len(self._objects)

    def blob_count(self) -> int:
        return len(self._by_blob)

    def objects_of(self, blob_id: str) -> list[BlobObject]:
        return [self._objects[oid] for oid in self._by_blob.get(blob_id, [])]

    def resolve_object(self, object_id: str) -> BlobObject | None:
        """The `Blob` object with this id, or the one a shared blob object with this id wraps."""
        found = self._objects.get(object_id)
        if found is None and object_id in self._shared:
            found = self._objects[self._shared[object_id]]
        return found

    def is_readable(self, blob_id: str, epoch: int) -> bool:
        return any(obj.covers(epoch) for obj in self.objects_of(blob_id))

    def has_content(self, blob_id: str) -> bool:
        if self.storage_dir is None:
            return blob_id in self._memory
        return self._content_path(blob_id).is_file()

    def read_content(self, blob_id: str) -> bytes:
        if self.storage_dir is None:
            return self._memory[blob_id]
        return self._content_path(blob_id).read_bytes()

    # --- changes ------------------------------------------------------------------------------------------

    def next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def write_content(self, blob_id: str, data: bytes) -> None:
        if self.storage_dir is None:
            self._memory[blob_id] = data
        elif not self.has_content(blob_id):
            _atomic_write(self._content_path(blob_id), data)

    def add_object(self, obj: BlobObject) -> None:
        self._objects[obj.object_id] = obj
        self._by_blob.setdefault(obj.blob_id, []).append(obj.object_id)
        if obj.shared_object_id is not None:
            self._shared[obj.shared_object_id] = obj.object_id

    def snapshot(self) -> bytes:
        """The index as it should be on disk now."""
        index = {
            "version": INDEX_VERSION,
            "epoch": self.clock.current,
            "counter": self._counter,
            "objects": [obj.to_json() for obj in self._objects.values()],
        }
        return json.dumps(index, indent=1, sort_keys=True).encode()

    def save(self) -> None:
        """Write the index (no-op in memory). Callers serialise object changes with their own lock."""
        path = self.index_path
        if path is None:
            return
        with self._save_lock:
            _atomic_write(path, self.snapshot())

    # --- internals ----------------------------------------------------------------------------------------

    def _content_path(self, blob_id: str) -> Path:
        assert self.storage_dir is not None
        # Blob ids are URL-safe base64: safe as file names.
        return self.storage_dir / "blobs" / f"{blob_id}.blob"

    def _load(self) -> None:
        path = self.index_path
        assert path is not None
        if not path.exists():
            return
        index = json.loads(path.read_bytes())
        if index.get("version") != INDEX_VERSION:
            raise ValueError(f"{path}: unknown index version {index.get('version')!r}")
        self._counter = int(index["counter"])
        for data in index["objects"]:
            self.add_object(BlobObject.from_json(data))
        self.clock.resume_at_least(int(index["epoch"]))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
