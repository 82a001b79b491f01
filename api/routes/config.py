"""`/v1/config`: the network, our objects on it, explorer and Walrus URLs: what a front end needs."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, registry_host
from api.models import ApiConfig

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/config", summary="Public configuration for clients")
async def get_config(ctx: ContextDep) -> ApiConfig:
    """Explorer URLs are templates: replace `{id}` with an object id, `{digest}` with a transaction
    digest."""
    settings = ctx.settings
    return ApiConfig(
        network=settings.network.value,
        chain_id=settings.expected_chain_id,
        package_id=settings.chain.package_id,
        registry_id=settings.chain.registry_id,
        enclave_config_id=settings.chain.enclave_config_id,
        # Templates with only `{id}` / `{digest}` left: the node's URL (`{rpc}`) is filled in here.
        explorer_object_url=settings.explorer_object_url("{id}"),
        explorer_tx_url=settings.explorer_tx_url("{digest}"),
        walrus_aggregator_url=settings.walrus_aggregator_url,
        walrus_publisher_url=settings.walrus_publisher_url,
        registry_host=registry_host(settings),
        public_url=settings.api.public_url,
        walrus_epochs=settings.walrus.epochs,
        max_bundle_bytes=min(settings.runner.max_bundle_bytes, settings.walrus.max_request_bytes),
        dev_wallet=ctx.faucet is not None,
    )
