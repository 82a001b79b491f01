"""Helpers for tests that need a running chain: a funded stand-in, a connected client, signers.

    async with dev_chain(users=2) as chain:
        result = await chain.submitter(chain.users[0]).submit(chain.package.request_build(spec, fee))

Keys here are derived from fixed labels: FOR TESTS AND DEVELOPMENT ONLY.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from daas.chain.client import RetryPolicy, SuiClient
from daas.chain.codecs import BuildFailedPayload, BuildSucceededPayload, signing_message
from daas.chain.hashing import blake2b256
from daas.chain.keys import SuiSigner
from daas.chain.transactions import DaasPackage, TransactionSubmitter
from emulator.sui.standin import MIST_PER_SUI, SuiStandIn

FAST_RETRY = RetryPolicy(attempts=5, base_delay_s=0.005, max_delay_s=0.05)


def dev_signer(label: str) -> SuiSigner:
    """A deterministic key for `label` (tests only)."""
    return SuiSigner.from_seed(blake2b256(b"daas-test-key::" + label.encode()))


def sign_result(
    enclave: SuiSigner,
    payload: BuildSucceededPayload | BuildFailedPayload,
    timestamp_ms: int,
) -> bytes:
    """The enclave signature `complete`/`fail` verify: Ed25519 over `bcs(IntentMessage)`."""
    return enclave.sign_message(signing_message(payload, timestamp_ms))


@dataclasses.dataclass
class DevChain:
    standin: SuiStandIn
    client: SuiClient
    package: DaasPackage
    admin: SuiSigner
    users: list[SuiSigner]
    gas_budget: int = 100_000_000

    def submitter(self, signer: SuiSigner, **kwargs: Any) -> TransactionSubmitter:
        kwargs.setdefault("gas_budget", self.gas_budget)
        return TransactionSubmitter(self.client, signer, **kwargs)


@contextlib.asynccontextmanager
async def dev_chain(
    *,
    users: int = 2,
    sui_each: int = 100,
    checkpoint_interval_s: float | None = 0.05,
    seed: str = "daas-test-chain",
    retry: RetryPolicy = FAST_RETRY,
    **standin_args: Any,
) -> AsyncIterator[DevChain]:
    """A started stand-in whose admin and `users` hold `sui_each` SUI, and a client connected to it."""
    signers = [dev_signer(f"user-{i}") for i in range(users)]
    admin = dev_signer("admin")
    funded = [(s.address, sui_each * MIST_PER_SUI) for s in [admin, *signers]]
    standin = SuiStandIn(
        funded=funded,
        admin_address=admin.address,
        seed=seed,
        checkpoint_interval_s=checkpoint_interval_s,
        **standin_args,
    )
    async with standin:
        client = SuiClient(
            standin.url,
            expected_chain_id=standin.chain_id,
            package_id=standin.package_id,
            retry=retry,
            timeout_s=10.0,
        )
        async with client:
            package = DaasPackage(
                standin.package_id, standin.registry_id, standin.enclave_config_id
            )
            yield DevChain(standin, client, package, admin, signers)
