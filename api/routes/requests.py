"""`/v1/requests`: the browser's way to request a build, with the user's own wallet signing.

    POST /v1/requests/prepare   {sender, source_blob_id, source_sha256, ...} -> unsigned tx bytes + summary
    POST /v1/requests/execute   {tx_bytes, signature}                        -> digest + request id

The API does everything that needs a Sui RPC transport: it reads the registry (paused? minimum fee?), picks
the sender's gas coins (one coin covering fee + gas budget, or several that Sui merges into the first), reads
the shared objects' initial versions and the reference gas price, and executes the signed bytes. The wallet
only signs. A signature is checked by the node, never here: the API holds no keys.

The chain client is reached through `api.chain.ChainAccess` (created on first use, so the API starts while
the node is unreachable and answers 503 until it is back).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pysui.sui.sui_bcs import bcs as pbcs

from api.chain import AccessDep, ChainAccess
from api.deps import ApiContext, ContextDep, SettingsDep
from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, PROBLEM_TYPE_BASE, InvalidParameter
from api.feed import Overflowed
from api.models import (
    BundleSummary,
    ExecuteBuildRequest,
    ExecutedRequest,
    PrepareBuildRequest,
    PreparedTransaction,
    RequestProblem,
    TransactionSummary,
)
from daas.chain.bcs import normalize_address
from daas.chain.codecs import MODULE_BUILDS, BuildRequested, BuildSpec, RegistryObject
from daas.chain.hashing import transaction_digest_b58
from daas.chain.ports import ChainWriter
from daas.chain.transactions import DaasPackage, build_programmable, transaction_data
from daas.chain.types import Coin, ExecutionResult
from daas.config import Settings
from daas.db.engine import session_scope
from daas.db.models import BuildStatus
from daas.db.repos import builds
from daas.errors import (
    ChainError,
    ChainUnavailable,
    CodecError,
    ConfigError,
    DaasError,
    DatabaseError,
    ObjectNotFound,
    OutcomeUnknown,
    TransactionRejected,
)

__all__ = ["ABORTS", "FlowProblem", "install", "router"]

MAX_GAS_COINS = 255  # Sui accepts at most 256 gas payment objects
FUNCTION = f"daas::{MODULE_BUILDS}::request_build"

# (module, code) -> (constant, what it means for the user), from docs/protocol.md "Abort codes".
ABORTS: dict[tuple[str, int], tuple[str, str]] = {
    ("builds", 1): ("EPaused", "the registry is paused: no new builds are accepted for now"),
    ("builds", 2): (
        "EWrongVersion",
        "the registry was upgraded and this API's package id is out of date (chain.package_id)",
    ),
    ("builds", 3): ("EFeeTooLow", "the fee is below the registry's minimum fee"),
    ("builds", 4): (
        "EInputTooLong",
        "a field is too long (blob id over 128, Dockerfile path over 256, platform over 32 bytes)",
    ),
    ("builds", 5): ("EBadDigestLength", "a sha256 that is not 32 bytes"),
    ("builds", 6): ("ENotPending", "the request is already settled"),
    ("builds", 7): ("ENotRequester", "only the requester may cancel a request"),
    ("builds", 8): ("ETooEarlyToCancel", "a request can be cancelled only after its deadline"),
    ("builds", 9): ("EWrongEnclaveConfig", "the enclave belongs to another configuration"),
    ("builds", 10): ("EStaleEnclave", "the enclave was attested under an older configuration"),
    ("builds", 11): ("EBadTimestamp", "the result's timestamp is out of range"),
    ("builds", 12): ("EInvalidSignature", "the enclave signature does not verify"),
    ("builds", 13): ("EBadErrorCode", "a failure code outside 100-299"),
    ("builds", 14): ("EDebugNotAllowed", "debug enclaves are not allowed by the registry"),
    ("builds", 15): ("EEmptyInput", "an empty field (blob id, Dockerfile path or platform)"),
    ("builds", 16): ("EBadTimeout", "a build timeout outside 60 s to 24 h"),
    ("enclave", 100): ("EPcrMismatch", "the attested PCRs differ from the configuration's"),
    ("enclave", 101): ("EDebugPcrs", "a debug-mode enclave (all-zero PCRs)"),
    ("enclave", 102): ("ENoPublicKey", "the attestation document carries no public key"),
    ("enclave", 103): ("EBadPkLength", "a public key that is not 32 bytes"),
    ("enclave", 104): ("EBadPcrLength", "a PCR that is not 48 bytes"),
    ("enclave", 105): ("EPcrMissing", "PCR 0, 1 or 2 is missing from the document"),
    ("enclave", 106): ("ENotStale", "the enclave is current"),
    ("enclave", 107): ("EWrongConfig", "the enclave belongs to another or an older configuration"),
}


# --- errors: problem details with the facts a front end shows -------------------------------------------


class FlowProblem(DaasError):
    """An error of the request flow with its HTTP status and problem kind; extra facts (`needed`,
    `available`, `abort_code`, ...) become members of the problem details (`RequestProblem`)."""

    def __init__(
        self,
        status: int,
        title: str,
        kind: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.kind = kind
        self.headers = headers
        self.facts = facts


async def _flow_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FlowProblem)
    body = RequestProblem(
        type=PROBLEM_TYPE_BASE + exc.kind,
        title=exc.title,
        status=exc.status,
        detail=str(exc),
        instance=request.url.path,
        **exc.facts,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=exc.headers,
    )


def install(app: FastAPI) -> None:
    """Install the handler of `FlowProblem` (next to `api.errors.install`)."""
    app.add_exception_handler(FlowProblem, _flow_problem)


def _unavailable(detail: str, **facts: Any) -> FlowProblem:
    return FlowProblem(
        503,
        "Sui Node Unavailable",
        "chain-unavailable",
        detail,
        headers={"Retry-After": "1"},
        **facts,
    )


def _chain_problem(exc: ChainError) -> FlowProblem:
    """A chain error outside execution (reads, connecting) as a problem."""
    if isinstance(exc, ChainUnavailable):
        return _unavailable(f"the Sui node is unreachable: {exc}")
    return FlowProblem(502, "Sui Node Error", "chain-error", f"the Sui node failed: {exc}")


async def _chain(access: ChainAccess) -> ChainWriter:
    try:
        return await access.get()
    except ChainError as exc:
        raise _chain_problem(exc) from exc


def _package(settings: Settings) -> DaasPackage:
    try:
        return DaasPackage.from_settings(settings.chain)
    except ConfigError as exc:
        raise _unavailable(
            f"this API is not configured for a network: {exc}",
            setting=exc.setting,
        ) from exc


# --- the router ---------------------------------------------------------------------------------------------


def _problem_schema(description: str) -> dict[str, Any]:
    schema = RequestProblem.model_json_schema(mode="serialization")
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}


router = APIRouter(prefix="/v1/requests", tags=["requests"], responses=PROBLEM_RESPONSES)

_PREPARE_RESPONSES: dict[int | str, dict[str, Any]] = {
    402: _problem_schema("Insufficient balance: `needed` and `available` in MIST"),
    409: _problem_schema("The registry is paused"),
    422: _problem_schema("Invalid field, or a fee below the registry's `min_fee`"),
    502: _problem_schema("The Sui node answered something unusable"),
    503: _problem_schema("Sui node unreachable, or the network is not configured (`setting`)"),
}
_EXECUTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_schema("The node refused the transaction: a signature that does not match"),
    422: _problem_schema("Invalid field, or the transaction aborted (`module`, `abort_code`)"),
    502: _problem_schema("The Sui node answered something unusable"),
    503: _problem_schema("Sui node unreachable (`digest` set if the outcome is unknown)"),
}


@router.post(
    "/prepare",
    summary="An unsigned request_build transaction for a wallet to sign",
    responses=_PREPARE_RESPONSES,
)
async def prepare(
    body: PrepareBuildRequest, settings: SettingsDep, access: AccessDep
) -> PreparedTransaction:
    """Builds `daas::builds::request_build` for `sender` with the gas coins, object versions and gas price
    resolved now. Sign `tx_bytes` with the wallet and POST both to `/v1/requests/execute`; the bytes go stale
    once the sender's coins are used by another transaction (prepare again then)."""
    sender = normalize_address(body.sender)
    _check_bytes("dockerfile_path", body.dockerfile_path, 256)
    _check_bytes("platform", body.platform, 32)
    package = _package(settings)
    chain = await _chain(access)
    try:
        registry_info = await chain.get_object(package.registry_id)
        if registry_info.contents is None:
            raise ChainError(f"the registry {package.registry_id} came without contents")
        registry = RegistryObject.from_bcs(registry_info.contents)
    except ObjectNotFound as exc:
        raise _unavailable(
            f"the registry {package.registry_id} does not exist on this network: "
            "chain.registry_id is wrong or belongs to another network",
            setting="chain.registry_id",
        ) from exc
    except CodecError as exc:
        raise FlowProblem(
            502, "Sui Node Error", "chain-error", f"the registry does not decode: {exc}"
        ) from exc
    except ChainError as exc:
        raise _chain_problem(exc) from exc
    if registry.paused:
        raise FlowProblem(
            409,
            "Registry Paused",
            "registry-paused",
            f"the registry {package.registry_id} is paused: no new builds are accepted for now",
        )
    fee = registry.min_fee if body.fee is None else body.fee
    if fee < registry.min_fee:
        raise FlowProblem(
            422,
            "Fee Too Low",
            "fee-too-low",
            f"the fee of {fee} MIST is below the registry's minimum fee of {registry.min_fee} MIST",
            min_fee=registry.min_fee,
        )
    budget = settings.chain.gas_budget
    try:
        coins = await chain.list_gas_coins(sender)
        gas_price = await chain.reference_gas_price()
    except ChainError as exc:
        raise _chain_problem(exc) from exc
    gas = _select_gas(sender, coins, fee + budget, fee=fee, budget=budget)

    spec = BuildSpec(body.source_blob_id, bytes.fromhex(body.source_sha256), body.dockerfile_path,
                     body.platform)  # fmt: skip
    call = package.request_build(spec, fee)
    kind = build_programmable([call], {package.registry_id: registry_info})
    tx_bytes = transaction_data(
        kind, sender=sender, gas=[coin.ref for coin in gas], gas_price=gas_price, gas_budget=budget
    )
    return PreparedTransaction(
        tx_bytes=base64.b64encode(tx_bytes).decode("ascii"),
        digest=transaction_digest_b58(tx_bytes),
        sender=sender,
        summary=TransactionSummary(
            function=FUNCTION,
            fee=fee,
            gas_budget=budget,
            gas_price=gas_price,
            gas_coins=[coin.ref.object_id for coin in gas],
            bundle=BundleSummary(
                blob_id=spec.source_blob_id,
                sha256=spec.source_sha256.hex(),
                dockerfile=spec.dockerfile_path,
                platform=spec.platform,
            ),
            registry_id=package.registry_id,
            package_id=package.package_id,
        ),
    )


def _check_bytes(name: str, value: str, limit: int) -> None:
    size = len(value.encode())
    if size > limit:
        raise InvalidParameter(
            f"{name} is {size} bytes in UTF-8; the registry accepts at most {limit}",
            param=name,
            location="body",
        )


def _select_gas(
    sender: str, coins: list[Coin], needed: int, *, fee: int, budget: int
) -> list[Coin]:
    """The smallest coin covering `needed`; else the richest coins until they do (Sui merges gas coins
    into the first); else 402 with what is needed and available."""
    covering = [coin for coin in coins if coin.balance >= needed]
    if covering:
        return [min(covering, key=lambda coin: (coin.balance, coin.ref.object_id))]
    chosen: list[Coin] = []
    total = 0
    for coin in sorted(coins, key=lambda coin: coin.balance, reverse=True)[:MAX_GAS_COINS]:
        if coin.balance == 0:
            break
        chosen.append(coin)
        total += coin.balance
        if total >= needed:
            return chosen
    available = sum(coin.balance for coin in coins)
    raise FlowProblem(
        402,
        "Insufficient Balance",
        "insufficient-balance",
        f"{sender} holds {available} MIST in SUI coins, but the fee ({fee}) and the gas budget "
        f"({budget}) need {needed} MIST: fund the address with at least {needed - available} MIST more"
        if available < needed
        else f"{sender} holds {available} MIST, but spread over more than {MAX_GAS_COINS} coins: "
        "merge its coins first",
        needed=needed,
        available=available,
    )


@router.post(
    "/execute",
    summary="Execute a prepared request_build signed by the sender's wallet",
    responses=_EXECUTE_RESPONSES,
)
async def execute(body: ExecuteBuildRequest, ctx: ContextDep, access: AccessDep) -> ExecutedRequest:
    """Submits the signed bytes to the Sui node and answers with the new BuildRequest's id. Submitting
    the same signed bytes again is safe: Sui executes a transaction once and repeats its result.

    It answers once this API's database has the build too (`indexed`), or after `api.index_wait_s`, so a
    page that opens `/v1/builds/{request_id}` next finds it."""
    settings = ctx.settings
    tx_bytes = _base64(body.tx_bytes, "tx_bytes")
    _base64(body.signature, "signature")
    package = _package(settings)
    _check_request_build(tx_bytes, package)
    chain = await _chain(access)
    digest = transaction_digest_b58(tx_bytes)
    try:
        result = await chain.execute(tx_bytes, [body.signature])
    except OutcomeUnknown as exc:
        raise _unavailable(
            f"the Sui node stopped answering: transaction {digest} may or may not have executed; "
            "submit the same bytes and signature again to learn its result",
            digest=digest,
        ) from exc
    except TransactionRejected as exc:
        raise _rejected(exc, digest) from exc
    except ChainError as exc:
        raise _chain_problem(exc) from exc
    if not result.ok:
        raise _failed(result)
    request_id = _request_id(result, package.package_id)
    if request_id is None:
        raise FlowProblem(
            422,
            "Not a Build Request",
            "not-a-build-request",
            f"transaction {result.digest} executed but requested no build of package "
            f"{package.package_id}",
            digest=result.digest,
        )
    indexed = await _wait_indexed(ctx, request_id, settings.api.index_wait_s)
    return ExecutedRequest(
        digest=result.digest,
        request_id=request_id,
        status=BuildStatus.PENDING,
        checkpoint=result.checkpoint,
        indexed=indexed,
        explorer_tx_url=settings.explorer_tx_url(result.digest),
        explorer_request_url=settings.explorer_object_url(request_id),
    )


async def _wait_indexed(ctx: ApiContext, request_id: str, timeout_s: float) -> bool:
    """Whether the indexer has committed the build within `timeout_s`. It writes the build's first event in
    the row's transaction, so this waits on the event feed rather than polling. The transaction has executed
    by now, so nothing here may fail the answer: a database error only means "not known yet"."""

    def known() -> bool:
        with session_scope(ctx.engine) as session:
            return builds.get(session, request_id) is not None

    async def check() -> bool:
        with contextlib.suppress(DaasError):
            return await anyio.to_thread.run_sync(known)
        return False

    try:
        sub = ctx.feed.subscribe(request_id)
    except DatabaseError:
        return await check()
    try:
        with anyio.move_on_after(timeout_s):
            # Checked after subscribing: a commit in between is either read here or pushed to `sub`.
            while not await check():
                try:
                    if not await sub.next_batch():
                        return False  # the API is shutting down
                except Overflowed:
                    return await check()
            return True
    finally:
        ctx.feed.unsubscribe(sub)
    return False


def _base64(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise InvalidParameter(f"{name} is not base64", param=name, location="body")
    return raw


def _check_request_build(tx_bytes: bytes, package: DaasPackage) -> None:
    """This API relays build requests only: a programmable transaction whose Move calls are all
    `request_build` of our package (with coins split off the gas coin to pay)."""
    target = (package.package_id, MODULE_BUILDS, "request_build")
    try:
        data = pbcs.TransactionData.deserialize(tx_bytes)
        kind = data.value.TransactionKind
        if data.enum_name != "V1" or kind.enum_name != "ProgrammableTransaction":
            raise ValueError(f"{data.enum_name} {kind.enum_name}")
        commands = [(command.enum_name, command.value) for command in kind.value.Command]
    except Exception as exc:  # canoser raises whatever it meets (OSError, TypeError, ...)
        raise InvalidParameter(
            f"tx_bytes is not a programmable Sui transaction ({exc})",
            param="tx_bytes",
            location="body",
        ) from None
    calls = [
        (normalize_address(body.Package.to_address_str()), str(body.Module), str(body.Function))
        for name, body in commands
        if name == "MoveCall"
    ]
    others = {name for name, _ in commands if name not in ("MoveCall", "SplitCoin")}
    if not calls or others or any(call != target for call in calls):
        raise FlowProblem(
            422,
            "Not a Build Request",
            "not-a-build-request",
            f"this API executes only {FUNCTION} of package {package.package_id}; the transaction "
            f"calls {', '.join('::'.join(call) for call in calls) or 'nothing'}"
            + (f" and runs {', '.join(sorted(others))}" if others else ""),
            digest=transaction_digest_b58(tx_bytes),
        )


def _rejected(exc: TransactionRejected, digest: str) -> FlowProblem:
    reason = str(exc)
    if "signature" in reason.lower():
        return FlowProblem(
            400,
            "Signature Rejected",
            "bad-signature",
            f"the signature does not match the transaction/sender ({reason})",
            digest=digest,
        )
    return FlowProblem(
        400,
        "Transaction Rejected",
        "transaction-rejected",
        f"the Sui node refused the transaction ({reason}); if its coins were used meanwhile, "
        "prepare it again",
        digest=digest,
    )


def _failed(result: ExecutionResult) -> FlowProblem:
    abort = result.abort
    if abort is None:
        return FlowProblem(
            422,
            "Transaction Failed",
            "transaction-failed",
            f"transaction {result.digest} failed: {result.error or result.error_kind}; "
            "its gas was charged",
            digest=result.digest,
        )
    name, meaning = ABORTS.get((abort.module or "", abort.code), (None, None))
    where = f"{abort.module}::{abort.function}"
    return FlowProblem(
        422,
        "Transaction Aborted",
        "move-abort",
        f"{meaning or 'aborted'} ({where} aborted with code {abort.code}"
        + (f", {name}" if name else "")
        + f"; transaction {result.digest}, its gas was charged)",
        module=abort.module,
        function=abort.function,
        abort_code=abort.code,
        abort_name=name,
        digest=result.digest,
    )


def _request_id(result: ExecutionResult, package_id: str) -> str | None:
    for event in result.events:
        try:
            decoded = event.decoded or event.decode(package_id)
        except CodecError:
            continue
        if isinstance(decoded, BuildRequested):
            return normalize_address(decoded.request_id)
    for change in result.created:
        if (change.object_type or "").endswith(f"::{MODULE_BUILDS}::BuildRequest"):
            return normalize_address(change.object_id)
    return None
