"""An offline stand-in for the Walrus publisher and aggregator HTTP API (see `emulator.walrus.server`)."""

from __future__ import annotations

from emulator.walrus.faults import Faults, Hostile, StandInStats
from emulator.walrus.ids import standin_blob_id
from emulator.walrus.server import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    RunningWalrus,
    WalrusStandIn,
    run,
    serve_walrus,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "Faults",
    "Hostile",
    "RunningWalrus",
    "StandInStats",
    "WalrusStandIn",
    "run",
    "serve_walrus",
    "standin_blob_id",
]
