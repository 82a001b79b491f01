"""How one claimed build ends for this runner: a closed set of outcomes, and the signed result it may post.

Every build the runner touches ends in exactly one `Outcome`, recorded under a cancellation shield (a stop
cannot lose it). Outcomes that *finish* the build set its step to `done`; the others give it back to the queue
(step `queued`, lease released) for another attempt, except `LEASE_LOST`, where the build is not ours to touch.
"""

from __future__ import annotations

import dataclasses
import enum

from daas.chain.codecs import BuildFailedPayload, BuildSucceededPayload
from daas.chain.transactions import MoveCall

__all__ = ["Outcome", "SignedResult"]


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"  # `complete` posted by this runner
    FAILED = "failed"  # `fail` posted by this runner (a requester or an infrastructure code)
    CANCELLED = "cancelled"  # the requester cancelled on chain; nothing posted
    SETTLED_ELSEWHERE = "settled_elsewhere"  # a result was already on chain; nothing posted
    LEASE_LOST = "lease_lost"  # another runner holds the build now; nothing posted, nothing written
    RETRY = "retry"  # an infrastructure fault with attempts left: given back for another attempt
    STOPPED = "stopped"  # the runner is stopping: given back unfinished
    UNSUBMITTED = "unsubmitted"  # the signed result could not be posted in time: given back

    @property
    def finishes(self) -> bool:
        """True when nothing is left to do for the build (its step becomes `done`)."""
        return self in _FINISHING

    @property
    def gives_back(self) -> bool:
        """True when the build returns to the queue (step `queued`, lease released)."""
        return self in _GIVING_BACK


_FINISHING = frozenset(
    {Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELLED, Outcome.SETTLED_ELSEWHERE}
)
_GIVING_BACK = frozenset({Outcome.RETRY, Outcome.STOPPED, Outcome.UNSUBMITTED})


@dataclasses.dataclass(frozen=True)
class SignedResult:
    """A result the enclave signed, and the `complete` or `fail` call that posts it."""

    payload: BuildSucceededPayload | BuildFailedPayload
    timestamp_ms: int
    signature: bytes
    call: MoveCall

    @property
    def succeeded(self) -> bool:
        return isinstance(self.payload, BuildSucceededPayload)

    @property
    def error_code(self) -> int | None:
        return None if isinstance(self.payload, BuildSucceededPayload) else self.payload.error_code
