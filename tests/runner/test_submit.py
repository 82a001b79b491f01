"""`ResultSubmitter` against the Sui stand-in: one result per request, whatever happens to the answers.

A writer wrapper loses answers on purpose (the transaction executed, the runner never heard) or serves a
stale read, to walk the paths a flaky network produces one by one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from daas.attestation.attestor import LocalKeyAttestor
from daas.attestation.registration import ensure_debug_enclave
from daas.chain.codecs import BuildRequested, BuildRequestObject, BuildSpec, RequestStatus
from daas.chain.transactions import TransactionSubmitter
from daas.chain.types import ExecutionResult, ObjectInfo
from daas.db.models import Build
from daas.errors import BuildFailureCode, OutcomeUnknown
from emulator.sui.standin import MIST_PER_SUI
from emulator.sui.testing import DevChain, dev_chain, dev_signer
from runner.outcome import Outcome, SignedResult
from runner.steps.attest import sign_failure
from runner.steps.export import StoredArtifact
from runner.steps.submit import ResultSubmitter

pytestmark = pytest.mark.anyio

FEE = 10_000_000
EMPTY_LOG = StoredArtifact("", hashlib.sha256(b"").digest(), 0, "application/jsonl")


class Lossy:
    """A `ChainWriter` over the real client that loses execution answers and serves stale reads on demand."""

    def __init__(self, chain: DevChain) -> None:
        self.client = chain.client
        self.lose_answers = 0
        self.stale: dict[str, ObjectInfo] = {}
        self.executed: list[str] = []

    async def execute(self, tx_bytes: bytes, signatures: Sequence[str]) -> ExecutionResult:
        result = await self.client.execute(tx_bytes, signatures)
        self.executed.append(result.digest)
        if self.lose_answers:
            self.lose_answers -= 1
            raise OutcomeUnknown("the answer was lost (test)", digest=result.digest)
        return result

    async def get_object(self, object_id: str) -> ObjectInfo:
        if object_id in self.stale:
            return self.stale.pop(object_id)
        return await self.client.get_object(object_id)

    async def reference_gas_price(self) -> int:
        return await self.client.reference_gas_price()

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectInfo]:
        return await self.client.get_objects(object_ids)

    async def list_gas_coins(self, owner: str) -> list:  # type: ignore[type-arg]
        return await self.client.list_gas_coins(owner)

    async def get_balance(self, owner: str) -> int:
        return await self.client.get_balance(owner)


@dataclasses.dataclass
class Setup:
    chain: DevChain
    enclave_id: str
    attestor: LocalKeyAttestor

    async def request(self) -> Build:
        spec = BuildSpec("A" * 43, bytes(32), "Dockerfile", "linux/amd64")
        result = await self.chain.submitter(self.chain.users[0]).submit(
            self.chain.package.request_build(spec, FEE)
        )
        (event,) = [e for e in result.decoded_events() if isinstance(e, BuildRequested)]
        return Build(
            request_id=event.request_id,
            requester=event.requester,
            source_blob_id=spec.source_blob_id,
            source_sha256=spec.source_sha256.hex(),
            dockerfile_path=spec.dockerfile_path,
            platform=spec.platform,
            spec_digest=event.spec_digest.hex(),
            fee=FEE,
            created_at_ms=event.created_at_ms,
            deadline_ms=event.deadline_ms,
        )

    def sign(
        self, build: Build, code: BuildFailureCode = BuildFailureCode.BUNDLE_MALFORMED
    ) -> SignedResult:
        return sign_failure(
            self.attestor, self.chain.package, self.enclave_id, build, code=code, log=EMPTY_LOG
        )

    def submitter(self, writer: Lossy | None = None, label: str = "runner") -> ResultSubmitter:
        signer = dev_signer(label)
        self.chain.standin.fund(signer.address, 10 * MIST_PER_SUI)
        source = writer or self.chain.client
        tx = TransactionSubmitter(source, signer, gas_budget=self.chain.gas_budget)
        return ResultSubmitter(source, tx, enclave_id=self.enclave_id, initial_delay_s=0.01)

    async def status(self, request_id: str) -> BuildRequestObject:
        info = await self.chain.client.get_object(request_id)
        assert info.contents is not None
        return BuildRequestObject.from_bcs(info.contents)


async def setup(chain: DevChain, tmp_path: Path) -> Setup:
    admin = chain.submitter(chain.admin)
    await admin.submit(chain.package.set_allow_debug(chain.standin.admin_cap_id, True))
    attestor = LocalKeyAttestor.generate()
    record = await ensure_debug_enclave(
        chain.client,
        admin,
        chain.package,
        admin_cap_id=chain.standin.admin_cap_id,
        attestor=attestor,
        chain_id=chain.standin.chain_id,
        record_path=tmp_path / "enclave.json",
    )
    return Setup(chain, record.enclave_id, attestor)


async def test_a_lost_answer_is_learned_by_resubmitting_the_same_bytes(tmp_path: Path) -> None:
    async with dev_chain(users=1, checkpoint_interval_s=0.02) as chain:
        s = await setup(chain, tmp_path)
        build = await s.request()
        writer = Lossy(chain)
        writer.lose_answers = 1
        submitter = s.submitter(writer)
        posted = await submitter.post(s.sign(build), timeout_s=10)
        assert posted.outcome is Outcome.FAILED
        # Executed once, answered the second time with the first result: the same digest both times.
        assert writer.executed == [posted.tx_digest, posted.tx_digest]
        assert (await s.status(build.request_id)).status == RequestStatus.FAILED


async def test_a_result_already_on_chain_is_never_posted_again(tmp_path: Path) -> None:
    async with dev_chain(users=1, checkpoint_interval_s=0.02) as chain:
        s = await setup(chain, tmp_path)
        build = await s.request()
        signed = s.sign(build)
        first = await s.submitter(label="first").post(signed, timeout_s=10)
        assert first.outcome is Outcome.FAILED and first.tx_digest

        # The same runner again (say, after a restart that lost the answer): it recognises its signature.
        writer = Lossy(chain)
        again = await s.submitter(writer, label="first-restarted").post(signed, timeout_s=10)
        assert (again.outcome, again.tx_digest, writer.executed) == (Outcome.FAILED, None, [])

        # Another runner's different result: settled elsewhere, nothing sent.
        other = s.sign(build, BuildFailureCode.BUNDLE_TOO_LARGE)
        elsewhere = await s.submitter(writer, label="second").post(other, timeout_s=10)
        assert (elsewhere.outcome, writer.executed) == (Outcome.SETTLED_ELSEWHERE, [])


async def test_losing_a_race_after_a_stale_read_ends_settled_elsewhere(tmp_path: Path) -> None:
    async with dev_chain(users=1, checkpoint_interval_s=0.02) as chain:
        s = await setup(chain, tmp_path)
        build = await s.request()
        pending = await chain.client.get_object(build.request_id)
        await s.submitter(label="winner").post(s.sign(build), timeout_s=10)
        writer = Lossy(chain)
        writer.stale[build.request_id] = pending  # our read still says PENDING
        loser = s.submitter(writer, label="loser")
        posted = await loser.post(s.sign(build, BuildFailureCode.BUNDLE_TOO_LARGE), timeout_s=10)
        assert posted.outcome is Outcome.SETTLED_ELSEWHERE
        assert len(writer.executed) == 1  # it tried once, the chain aborted with ENotPending
        assert (await s.status(build.request_id)).result.error_code == 102  # type: ignore[union-attr]


async def test_an_unreachable_node_ends_unsubmitted_at_the_deadline(tmp_path: Path) -> None:
    async with dev_chain(users=1, checkpoint_interval_s=0.02) as chain:
        s = await setup(chain, tmp_path)
        build = await s.request()
        submitter = s.submitter()
        chain.standin.set_faults(unavailable_rate=1.0)
        posted = await submitter.post(s.sign(build), timeout_s=1.0)
        chain.standin.set_faults(unavailable_rate=0.0)
        assert (posted.outcome, posted.tx_digest) == (Outcome.UNSUBMITTED, None)
        assert (await s.status(build.request_id)).status == RequestStatus.PENDING
