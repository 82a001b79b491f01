"""Pydantic models of every JSON body the API returns; they are the OpenAPI document's schemas.

Conventions follow the database: times are epoch milliseconds (UTC), object ids are `0x` + 64 hex digits,
image digests are OCI digests (`sha256:<hex>`), other sha256 values are plain lower-case hex.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from daas.db.models import BuildStatus, BuildStep, EventKind

__all__ = [
    "ApiConfig",
    "BuildDetail",
    "BuildLinks",
    "BuildPage",
    "BuildResult",
    "BuildSpec",
    "BuildSummary",
    "EventData",
    "Health",
    "HealthCheck",
    "OciError",
    "OciErrors",
    "Problem",
    "StepTiming",
]

_REQUEST_ID = "0x8f9d6a0b6f1e0c7b3c1d5e7f9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b"
_ADDRESS = "0x5a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef"
_BLOB_ID = "M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field(
        "about:blank",
        description="URI naming the kind of problem; `about:blank` means the HTTP status says it all",
        examples=["https://daas.dev/problems/not-found"],
    )
    title: str = Field(description="short summary of the kind of problem", examples=["Not Found"])
    status: int = Field(description="the HTTP status code", examples=[404])
    detail: str = Field(
        description="what went wrong in this request, for a human",
        examples=[f"build {_REQUEST_ID} does not exist"],
    )
    instance: str = Field(description="the request path", examples=[f"/v1/builds/{_REQUEST_ID}"])
    errors: list[dict[str, Any]] | None = Field(
        None, description="for invalid parameters: one entry per parameter (`loc`, `msg`)"
    )


class OciError(_Model):
    """One error of the OCI distribution specification."""

    code: str = Field(
        description="MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN, NAME_INVALID, DIGEST_INVALID, "
        "UNSUPPORTED or UNAVAILABLE",
        examples=["MANIFEST_UNKNOWN"],
    )
    message: str = Field(examples=["manifest unknown to the registry"])
    detail: dict[str, Any] | None = None


class OciErrors(_Model):
    """The error body of every failed `/v2` request."""

    errors: list[OciError]


class BuildSpec(_Model):
    """What was asked for on chain (`builds::BuildSpec`) and its digest."""

    source_blob_id: str = Field(
        description="Walrus blob id of the source bundle", examples=[_BLOB_ID]
    )
    source_sha256: str = Field(description="sha256 of the bundle bytes (hex)")
    dockerfile_path: str = Field(examples=["Dockerfile"])
    platform: str = Field(examples=["linux/amd64"])
    spec_digest: str = Field(description="sha256(bcs(BuildSpec)), computed on chain (hex)")
    source_url: str = Field(description="where an aggregator serves the bundle")


class StepTiming(_Model):
    """One runner step of one attempt, from the build's step events."""

    step: BuildStep
    attempt: int | None = Field(None, description="the runner attempt (from 1)")
    started_at_ms: int = Field(description="when the runner entered the step")
    ended_at_ms: int | None = Field(None, description="when it left the step; null while running")
    duration_ms: int | None = None
    ok: bool | None = Field(None, description="false when the step failed; null while running")
    error: str | None = Field(None, description="why the step failed")


class BuildResult(_Model):
    """The result the enclave signed and posted on chain, with links to check it."""

    succeeded: bool
    enclave_id: str | None = Field(None, description="the enclave that signed")
    image_digest: str | None = Field(
        None, description="OCI digest of the image manifest", examples=["sha256:" + "ab" * 32]
    )
    image_index_blob_id: str | None = Field(
        None, description="Walrus blob id of the image index", examples=[_BLOB_ID]
    )
    image_reference: str | None = Field(
        None,
        description="`docker pull` reference through this API's registry",
        examples=[f"api.example.com/daas/{_REQUEST_ID}@sha256:" + "ab" * 32],
    )
    log_digest: str | None = Field(None, description="sha256 of the stored log (hex)")
    log_blob_id: str | None = None
    error_code: int | None = Field(None, description="on failure: 100-199 requester, 200-299 ours")
    error_message: str | None = None
    timestamp_ms: int | None = Field(None, description="the signed timestamp")
    tx_digest: str | None = Field(None, description="the transaction that posted the result")
    checkpoint: int | None = None
    explorer_tx_url: str | None = None
    explorer_enclave_url: str | None = None
    image_index_url: str | None = Field(None, description="the image index on a Walrus aggregator")
    log_url: str | None = Field(None, description="the stored log on a Walrus aggregator")


class BuildLinks(_Model):
    """Where to find more about a build."""

    self: str = Field(examples=[f"/v1/builds/{_REQUEST_ID}"])
    events: str = Field(description="SSE stream of this build's events")
    logs: str = Field(description="the log as plain text")
    kubernetes: str | None = Field(None, description="a Deployment for the image, once built")
    explorer: str = Field(description="the BuildRequest object on a block explorer")


class BuildSummary(_Model):
    """A build as listed."""

    request_id: str = Field(description="the BuildRequest object id", examples=[_REQUEST_ID])
    requester: str = Field(examples=[_ADDRESS])
    status: BuildStatus = Field(description="on-chain status")
    step: BuildStep | None = Field(description="the runner's step")
    platform: str = Field(examples=["linux/amd64"])
    fee: int = Field(description="fee escrowed at request, in MIST")
    created_at_ms: int = Field(description="on-chain request time")
    deadline_ms: int = Field(description="after this, the requester may cancel")
    updated_at_ms: int
    links: BuildLinks


class BuildDetail(BuildSummary):
    """A build in full: spec, progress, step timings and the posted result."""

    spec: BuildSpec
    attempts: int = Field(description="runner attempts started so far")
    request_tx_digest: str | None = None
    request_checkpoint: int | None = None
    explorer_request_tx_url: str | None = None
    steps: list[StepTiming] = Field(description="runner steps in order, from the step events")
    result: BuildResult | None = Field(None, description="null until the build is settled on chain")


class BuildPage(_Model):
    """One page of builds, newest first."""

    items: list[BuildSummary]
    next: str | None = Field(
        None,
        description="URL of the next page (same filters); null on the last page",
        examples=["/v1/builds?limit=50&cursor=MTcwMDAwMDAwMDAwMC4weGFi"],
    )


class EventData(_Model):
    """The JSON `data:` of every SSE event; `id:` repeats `id` and `event:` repeats `kind`."""

    id: int = Field(description="global, increasing event id: resume with Last-Event-ID")
    build_id: str = Field(examples=[_REQUEST_ID])
    kind: EventKind
    created_at_ms: int
    final: bool = Field(description="true on the build's last event (a final on-chain status)")
    payload: dict[str, Any] = Field(
        description="kind-specific: status (`status`, `tx_digest`, ...), step (`step`), "
        "log (lines), result (digests and blob ids)"
    )


class ApiConfig(_Model):
    """What a front end needs to talk to the chain, Walrus and this API."""

    network: str = Field(examples=["testnet"])
    chain_id: str | None = None
    package_id: str | None = None
    registry_id: str | None = Field(None, description="the shared `builds::Registry` object")
    enclave_config_id: str | None = None
    explorer_object_url: str = Field(
        description="template with `{id}`", examples=["https://suiscan.xyz/testnet/object/{id}"]
    )
    explorer_tx_url: str = Field(
        description="template with `{digest}`", examples=["https://suiscan.xyz/testnet/tx/{digest}"]
    )
    walrus_aggregator_url: str
    walrus_publisher_url: str | None = None
    registry_host: str = Field(
        description="host[:port] for `docker pull`", examples=["api.example.com"]
    )
    public_url: str | None = None
    walrus_epochs: int = Field(description="storage epochs to buy for a bundle", examples=[5])
    max_bundle_bytes: int = Field(
        description="the largest bundle both the Walrus publisher and the runners accept"
    )
    dev_wallet: bool = Field(
        False,
        description="true only under `daas dev`: a development wallet and `/v1/dev/faucet` exist",
    )


class VerificationCheck(_Model):
    """One claim of a finished build, re-derived from the chain and Walrus."""

    name: str = Field(examples=["result.signature"])
    ok: bool
    detail: str
    warning: bool = Field(
        False, description="passed, with a caveat (e.g. a debug enclave on a dev network)"
    )


class Verification(_Model):
    """The checklist of `daas verify`, run by this API from the chain and Walrus alone."""

    request_id: str
    ok: bool = Field(description="every check passed")
    status: str | None = Field(
        None, description="the request's status on chain", examples=["succeeded"]
    )
    result_tx_digest: str | None = None
    checks: list[VerificationCheck]
    warnings: list[str]


class FaucetRequest(_Model):
    """Who gets development SUI."""

    address: str = Field(pattern=r"^0[xX][0-9a-fA-F]{1,64}$", examples=[_ADDRESS])


class FaucetResult(_Model):
    """A new gas coin for the address, on the development chain."""

    address: str
    amount_mist: int
    coin_id: str
    digest: str = Field(description="the faucet's system transaction")
    balance_mist: int = Field(description="the address's SUI balance afterwards")


class HealthCheck(_Model):
    """One part of the health verdict."""

    ok: bool
    detail: str
    value: float | None = Field(None, description="the measured value (seconds, for ages and lags)")
    threshold: float | None = None


class Health(_Model):
    """Whether this API can serve: database, indexer progress, runners."""

    status: Literal["ok", "unhealthy"]
    checks: dict[str, HealthCheck] = Field(
        description="`database`, `indexer` (watermark lag), `runner` (heartbeat age)"
    )


# --- the browser's request flow: prepare an unsigned request_build, execute it once signed ---------------

_TX_DIGEST = "8kCzqqC2Q2uWq3F3tDDw3zkz9Fqk9xzWz9c3QxqvJ5Yt"


class PrepareBuildRequest(_Model):
    """What the user wants built; the API turns it into an unsigned `request_build` transaction."""

    sender: str = Field(
        pattern=r"^0[xX][0-9a-fA-F]{1,64}$",
        description="the wallet's Sui address: it signs, pays the fee and gas, and owns the request",
        examples=[_ADDRESS],
    )
    source_blob_id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{43}$",
        description="Walrus blob id of the build context bundle (43 characters, URL-safe base64)",
        examples=[_BLOB_ID],
    )
    source_sha256: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="sha256 of the bundle's bytes, hex",
        examples=["11" * 32],
    )
    dockerfile_path: str = Field(
        "Dockerfile", min_length=1, max_length=256, description="inside the bundle (≤ 256 bytes)"
    )
    platform: str = Field("linux/amd64", min_length=1, max_length=32, description="≤ 32 bytes")
    fee: int | None = Field(
        None,
        strict=True,
        ge=0,
        le=2**64 - 1,
        description="MIST escrowed for the runner; at least the registry's `min_fee` (its default)",
        examples=[10_000_000],
    )


class BundleSummary(_Model):
    blob_id: str = Field(examples=[_BLOB_ID])
    sha256: str = Field(description="hex", examples=["11" * 32])
    dockerfile: str = Field(examples=["Dockerfile"])
    platform: str = Field(examples=["linux/amd64"])


class TransactionSummary(_Model):
    """What the wallet asks the user to sign, in words."""

    function: str = Field(examples=["daas::builds::request_build"])
    fee: int = Field(description="MIST paid into escrow for the build")
    gas_budget: int = Field(description="at most this many MIST of gas")
    gas_price: int = Field(description="MIST per gas unit (the reference gas price)")
    gas_coins: list[str] = Field(
        description="the sender's coins paying fee and gas (merged if several)"
    )
    bundle: BundleSummary
    registry_id: str
    package_id: str


class PreparedTransaction(_Model):
    """An unsigned transaction for the wallet: sign `tx_bytes`, then POST it to `/v1/requests/execute`."""

    tx_bytes: str = Field(description="base64 of `bcs(TransactionData)`")
    digest: str = Field(description="the transaction digest (base58)", examples=[_TX_DIGEST])
    sender: str = Field(examples=[_ADDRESS])
    summary: TransactionSummary


class ExecuteBuildRequest(_Model):
    """A prepared transaction and the wallet's signature over it."""

    tx_bytes: str = Field(
        min_length=1, description="base64, exactly as `/v1/requests/prepare` returned"
    )
    signature: str = Field(
        min_length=1,
        description="the sender's Sui user signature, base64 (`flag ‖ signature ‖ key`)",
    )


class ExecutedRequest(_Model):
    """An executed `request_build`: the build is requested on chain."""

    digest: str = Field(description="the transaction digest (base58)", examples=[_TX_DIGEST])
    request_id: str = Field(description="the new BuildRequest object id", examples=[_REQUEST_ID])
    status: BuildStatus = Field(description="always `pending` for a new request")
    checkpoint: int | None = Field(None, description="the checkpoint, if the node already knows it")
    indexed: bool = Field(
        False,
        description="this API already has the build (`GET /v1/builds/{request_id}` finds it); false "
        "after `api.index_wait_s` without it: the indexer is behind",
    )
    explorer_tx_url: str
    explorer_request_url: str


class RequestProblem(Problem):
    """Problem details of the request flow, with the facts a front end shows (set when they apply)."""

    needed: int | None = Field(
        None, description="insufficient balance: MIST needed (fee + gas budget)"
    )
    available: int | None = Field(
        None, description="insufficient balance: MIST the sender's coins hold"
    )
    min_fee: int | None = Field(None, description="fee too low: the registry's minimum, MIST")
    setting: str | None = Field(None, description="configuration missing: the setting's name")
    module: str | None = Field(None, description="Move abort: the module")
    function: str | None = Field(None, description="Move abort: the function")
    abort_code: int | None = Field(None, description="Move abort: the code (docs/protocol.md)")
    abort_name: str | None = Field(None, description="Move abort: the constant, e.g. `EPaused`")
    digest: str | None = Field(None, description="the transaction concerned, if any")
