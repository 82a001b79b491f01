"""How patiently the Walrus client retries transient faults (429, 502, 503, 504, connection errors, timeouts)."""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """`retries` retries after the first attempt, with exponential backoff and jitter.

    The delay before retry n (from 0) is `min(max_delay_s, base_delay_s * 2**n)` scaled by a random factor in
    [0.5, 1): jitter keeps many clients from retrying in lockstep after a shared outage. A `Retry-After` from the
    server is a floor, itself capped at `max_retry_after_s` so a confused server cannot park us for hours.
    """

    retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("delays must be >= 0")

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(retry, 62))
        wait = ceiling * (0.5 + rng.random() / 2)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.max_retry_after_s))
        return wait
