"""Process-level tuning for a long-running API server (called by `daas api` once the app has started).

The collector, not the CPU, sets the SSE tail latency with many clients: every message allocates a few
container objects (ASGI message dicts, futures), so with the default thresholds young collections run
constantly and a full collection, walking every object of every open connection, runs every few seconds and
pauses the event loop 100-200 ms at 1,500 clients. Measured with `bench/sse.py` (1,500 clients x 20 events/s):
p99 ~230-300 ms with the defaults, ~80 ms with these settings.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

# Young collections every 10,000 net allocations instead of 700; a full collection after 100 middle ones
# instead of 10 (still minutes apart under load, so cyclic garbage of closed connections is reclaimed).
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """Move start-up objects (modules, settings, the app) out of the collector's reach and raise its
    thresholds. Process-wide: only for the process that serves the API."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
