"""Fault injection for the Walrus stand-in: the errors a real publisher or aggregator gives, and hostile answers.

Ordinary faults are drawn per request from one seeded `random.Random`, so a sequential client sees the same
sequence for the same seed:

- 429 (plain text, the load shedder's message) on any blob route;
- 503 `BLOB_UNAVAILABLE` on reads (GET and HEAD of a blob);
- 504 `INSUFFICIENT_CONFIRMATIONS` on stores, before anything is stored;
- "store lost": the blob is stored and certified, and the answer is still a 504 (what a client sees when the
  publisher's confirmation wait times out after the certificate landed).

Hostile modes spoil successful answers instead, for `hostile_count` responses (all when None), to prove that a
client never returns wrong bytes. They are not something a well-behaved aggregator does; a broken one, a caching
proxy or a network path can.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections import Counter
from typing import Any, Literal

MIB = 1024 * 1024

RouteKind = Literal["store", "read"]
Fault = Literal["429", "503", "504", "store_lost"]


class Hostile(enum.StrEnum):
    """How a successful answer is spoiled."""

    # honest Content-Length, only the first half of the bytes
    TRUNCATED = "truncated"
    # full Content-Length, half the bytes, then the connection closes
    CONNECTION_CUT = "connection_cut"
    # right length, one byte flipped
    WRONG_BYTES = "wrong_bytes"
    # honest Content-Length, the last byte missing
    WRONG_LENGTH = "wrong_length"
    # the blob then junk, honest (larger) Content-Length
    OVERSIZED = "oversized"
    # the same, chunked: only counting the bytes can tell
    OVERSIZED_CHUNKED = "oversized_chunked"
    # PUT: store and certify, hold the answer `hang_s`, then 504
    STORE_THEN_HANG = "store_then_hang"

    @property
    def applies_to(self) -> RouteKind:
        return "store" if self is Hostile.STORE_THEN_HANG else "read"


@dataclasses.dataclass(frozen=True)
class Faults:
    """Fault settings; rates are probabilities per request of the routes they apply to."""

    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_504: float = 0.0
    rate_store_lost: float = 0.0
    # Sent as `Retry-After` with 429 and 503 answers (the real daemon sends none); fractions are allowed.
    retry_after_s: float | None = None
    latency_s: float = 0.0
    hostile: Hostile | None = None
    hostile_count: int | None = None
    hang_s: float = 30.0
    oversize_extra_bytes: int = 64 * MIB

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_503", "rate_504", "rate_store_lost"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability, not {value}")
        if self.rate_429 + self.rate_503 > 1.0:
            raise ValueError("rate_429 + rate_503 (the read faults) exceed 1")
        if self.rate_429 + self.rate_504 + self.rate_store_lost > 1.0:
            raise ValueError("rate_429 + rate_504 + rate_store_lost (the store faults) exceed 1")
        if self.latency_s < 0 or self.hang_s < 0 or self.oversize_extra_bytes < 1:
            raise ValueError("latency_s and hang_s are >= 0, oversize_extra_bytes >= 1")
        if self.hostile_count is not None and self.hostile_count < 0:
            raise ValueError("hostile_count is >= 0 (or None for every response)")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise ValueError("retry_after_s is >= 0")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hostile"] = None if self.hostile is None else self.hostile.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, base: Faults | None = None) -> Faults:
        """Faults from JSON; keys not given keep their value in `base`. Raises ValueError on bad input."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        merged = (base or cls()).to_json() | data
        try:
            hostile = None if merged["hostile"] is None else Hostile(merged["hostile"])
        except ValueError:
            choices = ", ".join(mode.value for mode in Hostile)
            raise ValueError(f"hostile must be one of {choices}, or null") from None
        merged["hostile"] = hostile
        try:
            return cls(**merged)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclasses.dataclass
class StandInStats:
    """What the stand-in saw and did, for tests to assert on."""

    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    faults: Counter[str] = dataclasses.field(default_factory=Counter)
    newly_created: int = 0
    already_certified: int = 0
    hostile_bytes_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "faults": dict(self.faults),
            "newlyCreated": self.newly_created,
            "alreadyCertified": self.already_certified,
            "hostileBytesSent": self.hostile_bytes_sent,
        }


class FaultInjector:
    """Draws faults from seeded randomness; `faults` can be replaced at any time."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._hostile_left = faults.hostile_count

    def replace(self, faults: Faults) -> None:
        self.faults = faults
        self._hostile_left = faults.hostile_count

    def reseed(self, seed: int) -> None:
        self._rng.seed(seed)

    def draw(self, kind: RouteKind) -> Fault | None:
        """One draw per request, even when every rate is 0, so a sequence does not shift when rates change."""
        roll = self._rng.random()
        f = self.faults
        table: list[tuple[Fault, float]] = [("429", f.rate_429)]
        if kind == "read":
            table.append(("503", f.rate_503))
        else:
            table += [("504", f.rate_504), ("store_lost", f.rate_store_lost)]
        edge = 0.0
        for fault, rate in table:
            edge += rate
            if roll < edge:
                return fault
        return None

    def take_hostile(self, kind: RouteKind) -> Hostile | None:
        """The hostile mode to apply to this successful response, if any (and count it as used)."""
        mode = self.faults.hostile
        if mode is None or mode.applies_to != kind:
            return None
        if self._hostile_left is not None:
            if self._hostile_left == 0:
                return None
            self._hostile_left -= 1
        return mode
