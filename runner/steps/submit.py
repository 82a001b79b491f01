"""Submitting: posting a signed result with `complete` or `fail`, so each build gets exactly one on chain.

One `ResultSubmitter` per runner process wraps the `TransactionSubmitter` (one gas coin, tracked from each
transaction's effects). Before every submission, and before every *re*submission, the runner reads the
request on chain (`GetObject`, decoded as `BuildRequestObject`):

- not PENDING: nothing is posted. A result that carries our own signature was ours (an earlier attempt whose
  answer was lost); anything else is `SETTLED_ELSEWHERE` (or `CANCELLED`).
- PENDING: submit. A transaction whose outcome is unknown is kept in doubt by the `TransactionSubmitter`
  and resubmitted as the *same bytes* first (Sui executes a digest at most once), never re-signed.

The Move rules are the last line: `complete` and `fail` abort with `ENotPending` on a settled request, so two
runners racing cannot both post; the loser learns it from the status read that follows. Transient faults
(node unreachable, transaction rejected for a stale gas coin) are retried with backoff until the deadline;
any other abort is `SubmissionRefused` (a stale or misconfigured enclave: retrying cannot help).
"""

from __future__ import annotations

import logging

import anyio

from daas.chain.codecs import MODULE_BUILDS, BuildRequestObject, RequestStatus
from daas.chain.ports import ChainWriter
from daas.chain.transactions import TransactionSubmitter
from daas.chain.types import ExecutionResult
from daas.errors import (
    ChainError,
    ChainUnavailable,
    CodecError,
    TransactionFailed,
    TransactionRejected,
)
from runner.outcome import Outcome, SignedResult

__all__ = ["ENOT_PENDING", "Posted", "ResultSubmitter", "SubmissionRefused"]

log = logging.getLogger(__name__)

ENOT_PENDING = 6  # builds::ENotPending


class SubmissionRefused(ChainError):
    """The chain refused the result for a reason retrying cannot fix (the abort is chained)."""


class Posted:
    """What became of a signed result."""

    __slots__ = ("outcome", "tx_digest")

    def __init__(self, outcome: Outcome, tx_digest: str | None) -> None:
        self.outcome = outcome
        self.tx_digest = tx_digest

    def __repr__(self) -> str:
        return f"Posted({self.outcome.value}, {self.tx_digest})"


class _Again(Exception):
    """Someone settled the request between our read and our transaction: read again."""


class ResultSubmitter:
    """Posts results through `tx` (one signer, one gas coin) as enclave `enclave_id`."""

    def __init__(
        self,
        writer: ChainWriter,
        tx: TransactionSubmitter,
        *,
        enclave_id: str,
        initial_delay_s: float = 0.2,
        max_delay_s: float = 5.0,
    ) -> None:
        self._writer = writer
        self._tx = tx
        self.enclave_id = enclave_id
        self._initial_delay_s = initial_delay_s
        self._max_delay_s = max_delay_s

    async def request(self, request_id: str) -> BuildRequestObject:
        """The request as it is on chain now."""
        info = await self._writer.get_object(request_id)
        if info.contents is None:
            raise ChainError(f"the node returned request {request_id} without its contents")
        try:
            return BuildRequestObject.from_bcs(info.contents)
        except CodecError as exc:
            raise ChainError(f"request {request_id} does not decode: {exc}") from exc

    async def post(self, signed: SignedResult, *, timeout_s: float) -> Posted:
        """Post `signed` unless the request is settled; `UNSUBMITTED` if the deadline passes first."""
        delay = self._initial_delay_s
        with anyio.move_on_after(timeout_s):
            while True:
                try:
                    return await self._attempt(signed)
                except _Again:
                    continue
                except (ChainUnavailable, TransactionRejected) as exc:
                    # OutcomeUnknown is a ChainUnavailable: the bytes stay in doubt and go first next time.
                    log.warning("posting the result of %s: %s", signed.payload.request_id, exc)
                await anyio.sleep(delay)
                delay = min(self._max_delay_s, delay * 2)
        return Posted(Outcome.UNSUBMITTED, None)

    async def _attempt(self, signed: SignedResult) -> Posted:
        request_id = signed.payload.request_id
        if self._tx.in_doubt is not None:
            try:
                settled = await self._tx.settle()
            except TransactionRejected:
                settled = None  # those bytes never executed and no longer can
            if settled is not None and settled.ok and _touches(settled, request_id):
                return Posted(_posted(signed), settled.digest)
        request = await self.request(request_id)
        if request.status != RequestStatus.PENDING:
            return Posted(self._already(request, signed), None)
        try:
            result = await self._tx.submit(signed.call)
        except TransactionFailed as exc:
            if exc.module == MODULE_BUILDS and exc.abort_code == ENOT_PENDING:
                raise _Again from exc
            raise SubmissionRefused(f"the chain refused the result of {request_id}: {exc}") from exc
        return Posted(_posted(signed), result.digest)

    def _already(self, request: BuildRequestObject, signed: SignedResult) -> Outcome:
        if request.status == RequestStatus.CANCELLED:
            return Outcome.CANCELLED
        result = request.result
        if (
            result is not None
            and result.enclave_id == self.enclave_id
            and result.signature == signed.signature
        ):
            return _posted(signed)  # our own transaction, whose answer we never got
        return Outcome.SETTLED_ELSEWHERE


def _posted(signed: SignedResult) -> Outcome:
    return Outcome.SUCCEEDED if signed.succeeded else Outcome.FAILED


def _touches(result: ExecutionResult, request_id: str) -> bool:
    return any(change.object_id == request_id for change in result.changed)
