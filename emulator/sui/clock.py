"""The stand-in's notion of time: wall-clock milliseconds that never go backwards, movable by tests.

A real Clock object (`0x6`) shows the consensus commit time, which only increases. `NodeClock` reads a source
(default: the system clock), adds an offset that `advance` grows (so a test can jump past a deadline), and
never returns less than it returned before, nor less than the last time replayed from a state file.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class NodeClock:
    def __init__(self, source: Callable[[], int] = wall_ms) -> None:
        self._source = source
        self._offset_ms = 0
        self._last_ms = 0

    def now_ms(self) -> int:
        self._last_ms = max(self._last_ms, self._source() + self._offset_ms)
        return self._last_ms

    def advance(self, ms: int) -> int:
        """Move time forward by `ms` (never back) and return the new time."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self._offset_ms += ms
        return self.now_ms()

    def not_before(self, ms: int) -> None:
        """Make sure later readings are at least `ms` (after replaying history)."""
        if ms > self._source() + self._offset_ms:
            self._offset_ms = ms - self._source()
        self._last_ms = max(self._last_ms, ms)
