"""Event decoding throughput: our strict BCS codecs against pysui's canoser, side by side in one run.

The indexer decodes every event of our package; this measures what that costs per event and how it compares
with the library pysui itself uses. Output is JSON on stdout:

    .venv/bin/python bench/bench_codecs.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import canoser
from pysui.sui.sui_bcs import bcs as pysui_bcs

from daas.chain import codecs as c


class CanoserBuildRequested(canoser.Struct):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - canoser reads this class attribute
        ("request_id", pysui_bcs.Address),
        ("requester", pysui_bcs.Address),
        ("source_blob_id", str),
        ("source_sha256", [canoser.Uint8]),
        ("dockerfile_path", str),
        ("platform", str),
        ("spec_digest", [canoser.Uint8]),
        ("fee", canoser.Uint64),
        ("created_at_ms", canoser.Uint64),
        ("deadline_ms", canoser.Uint64),
    ]


def sample_events(n: int) -> list[bytes]:
    return [
        c.BuildRequested(
            "0x" + f"{i:064x}",
            "0x" + "ab" * 32,
            f"blob-{i:08d}-" + "x" * 30,
            bytes([i % 256]) * 32,
            "Dockerfile",
            "linux/amd64",
            bytes([(i * 7) % 256]) * 32,
            10_000_000 + i,
            1_767_000_000_000 + i,
            1_767_003_600_000 + i,
        ).to_bcs()
        for i in range(n)
    ]


def time_per_event(
    decode: Callable[[bytes], object], events: list[bytes], rounds: int
) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for raw in events:
            decode(raw)
        samples.append((time.perf_counter() - start) / len(events) * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    events = sample_events(args.events)
    # Same input, alternating rounds, so machine noise hits both sides alike.
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        ours += time_per_event(c.BuildRequested.from_bcs, events, 1)
        theirs += time_per_event(CanoserBuildRequested.deserialize, events, 1)
    result = {
        "benchmark": "decode BuildRequested event",
        "events_per_round": args.events,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "daas_us_per_event_median": round(statistics.median(ours), 3),
        "canoser_us_per_event_median": round(statistics.median(theirs), 3),
        "ratio_canoser_over_daas": round(statistics.median(theirs) / statistics.median(ours), 3),
        "daas_events_per_second": round(1e6 / statistics.median(ours)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
