"""Real transactions against the Sui stand-in: requests, a debug enclave, results and cancellations."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable

from daas.chain.codecs import BuildRequested, BuildSpec, BuildSucceededPayload
from daas.chain.keys import SuiSigner
from emulator.sui.testing import DevChain, dev_signer, sign_result

FEE = 10_000_000
_specs = itertools.count()


def spec(n: int | None = None) -> BuildSpec:
    n = next(_specs) if n is None else n
    return BuildSpec(
        f"blob-{n}", hashlib.sha256(f"source {n}".encode()).digest(), "Dockerfile", "linux/amd64"
    )


async def request_build(chain: DevChain, user: int = 0) -> tuple[str, BuildSpec]:
    """Submit one `request_build`; returns its request id and spec."""
    wanted = spec()
    result = await chain.submitter(chain.users[user]).submit(
        chain.package.request_build(wanted, FEE)
    )
    (event,) = [e for e in result.decoded_events() if isinstance(e, BuildRequested)]
    return event.request_id, wanted


class Enclave:
    """A debug enclave registered on the stand-in (allow_debug switched on by the admin)."""

    def __init__(self, chain: DevChain, signer: SuiSigner, enclave_id: str) -> None:
        self.chain = chain
        self.signer = signer
        self.enclave_id = enclave_id

    @classmethod
    async def register(cls, chain: DevChain) -> Enclave:
        admin = chain.submitter(chain.admin)
        cap = chain.standin.admin_cap_id
        await admin.submit(chain.package.set_allow_debug(cap, True))
        signer = dev_signer("enclave")
        result = await admin.submit(chain.package.register_debug_enclave(cap, signer.public_key))
        (created,) = [
            c for c in result.created if c.object_type and c.object_type.endswith("::Enclave")
        ]
        return cls(chain, signer, created.object_id)

    async def complete(self, request_id: str, wanted: BuildSpec, *, by: int = 0) -> None:
        timestamp = self.chain.standin.clock.now_ms()
        payload = BuildSucceededPayload(
            request_id,
            wanted.digest(),
            hashlib.sha256(b"image " + request_id.encode()).digest(),
            f"index-{request_id[-8:]}",
            hashlib.sha256(b"log " + request_id.encode()).digest(),
            f"log-{request_id[-8:]}",
        )
        signature = sign_result(self.signer, payload, timestamp)
        call = self.chain.package.complete(
            request_id,
            self.enclave_id,
            image_digest=payload.image_digest,
            image_index_blob_id=payload.image_index_blob_id,
            log_digest=payload.log_digest,
            log_blob_id=payload.log_blob_id,
            timestamp_ms=timestamp,
            signature=signature,
        )
        await self.chain.submitter(self.chain.users[by]).submit(call)


async def produce(
    chain: DevChain,
    enclave: Enclave | None,
    *,
    until: Callable[[int], bool],
    complete_every: int = 10,
) -> int:
    """Requests from every user in parallel (and a result for every `complete_every`-th) until
    `until(events submitted)` is true; returns the number of events."""
    count = 0

    async def user(index: int) -> None:
        nonlocal count
        for n in itertools.count():
            if until(count):
                return
            request_id, wanted = await request_build(chain, index)
            count += 1
            if enclave is not None and n % complete_every == complete_every - 1:
                await enclave.complete(request_id, wanted, by=index)
                count += 1

    await asyncio.gather(*(user(i) for i in range(len(chain.users))))
    return count
