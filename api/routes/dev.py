"""`/v1/dev/faucet`: SUI for the dashboard's development wallet, under `daas dev` only.

`daas dev` hands the app a `DevFaucet` backed by its Sui stand-in; everywhere else there is none and the route
answers 404, so a deployment can never mint anything. The faucet never runs by itself: the dashboard calls it
when the user asks.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.chain import AccessDep
from api.deps import ContextDep
from api.errors import PROBLEM_RESPONSES
from api.models import FaucetRequest, FaucetResult
from daas.chain.bcs import normalize_address
from daas.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1/dev", tags=["operations"], responses=PROBLEM_RESPONSES)


@router.post("/faucet", summary="Development SUI for an address (daas dev only)")
async def faucet(body: FaucetRequest, ctx: ContextDep, access: AccessDep) -> FaucetResult:
    if ctx.faucet is None:
        raise NotFound("there is no faucet here: development SUI exists only under `daas dev`")
    address = normalize_address(body.address)
    grant = await ctx.faucet.fund(address)
    balance = await (await access.get()).get_balance(address)
    return FaucetResult(
        address=address,
        amount_mist=grant.amount_mist,
        coin_id=grant.coin_id,
        digest=grant.digest,
        balance_mist=balance,
    )
