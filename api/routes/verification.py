"""`/v1/builds/{request_id}/verification`: `daas verify`'s checklist, run by the API for the dashboard.

It reads the chain and Walrus only, never the database, exactly as `daas verify` does on a user's machine:
the answer is the one anyone would get. A node or Walrus outage is a 503, not a failed verdict.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.chain import AccessDep
from api.deps import ContextDep
from api.errors import PROBLEM_RESPONSES
from api.models import Verification, VerificationCheck
from api.routes.params import RequestIdPath
from api.views import normalize_object_id
from daas.verify import VerifyOptions, verify_build

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["builds"], responses=PROBLEM_RESPONSES)


@router.get(
    "/builds/{request_id}/verification",
    summary="Verify a build from the chain and Walrus alone",
)
async def verify(request_id: RequestIdPath, ctx: ContextDep, access: AccessDep) -> Verification:
    """Every check of `daas verify` (signature, enclave, attestation, image, log, source), re-derived now.

    Slow for large images: every layer is read back from Walrus and hashed."""
    options = VerifyOptions.from_settings(ctx.settings)
    report = await verify_build(
        await access.get(),
        ctx.store,
        normalize_object_id(request_id, param="request_id"),
        options,
    )
    warned = set(report.warnings)
    return Verification(
        request_id=report.request_id,
        ok=report.ok,
        status=report.status,
        result_tx_digest=report.result_tx_digest,
        checks=[
            VerificationCheck(
                name=check.name,
                ok=check.ok,
                detail=check.detail,
                warning=check.ok and check.detail in warned,
            )
            for check in report.checks
        ],
        warnings=list(report.warnings),
    )
