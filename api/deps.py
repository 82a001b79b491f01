"""What routes receive through `Depends`: the per-app context built by the lifespan, and its parts.

Nothing is global: `create_app` hands its settings to the lifespan, which stores one `ApiContext` on
`app.state`; every dependency below reads it from the request's app. They are `async def` although they
never await: FastAPI runs a plain `def` dependency in the thread pool, a thread hop per dependency.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Protocol

import sqlalchemy as sa
from fastapi import Depends, Request

from api.feed import EventFeed
from api.images import ImageSource
from api.metrics import ApiMetrics
from daas.config import Settings
from daas.walrus import BlobStore

__all__ = [
    "ApiContext",
    "ContextDep",
    "DevFaucet",
    "EngineDep",
    "FaucetGrant",
    "FeedDep",
    "HealthPolicy",
    "ImagesDep",
    "MetricsDep",
    "SettingsDep",
    "context",
    "registry_host",
]


@dataclasses.dataclass(frozen=True)
class HealthPolicy:
    """When `/healthz` says unhealthy; None switches a check off (e.g. an API without runners)."""

    max_watermark_lag_s: float | None = 120.0
    max_heartbeat_age_s: float | None = 120.0


@dataclasses.dataclass(frozen=True)
class FaucetGrant:
    """What the development faucet gave: a new coin, made by a system transaction."""

    amount_mist: int
    coin_id: str
    digest: str


class DevFaucet(Protocol):
    """Gas for the browser's development wallet. Only `daas dev` passes one (backed by the Sui stand-in);
    real networks have none, and `/v1/dev/faucet` answers 404 there."""

    async def fund(self, address: str) -> FaucetGrant: ...


@dataclasses.dataclass(frozen=True)
class ApiContext:
    """Everything a request may use; built once per app by the lifespan."""

    settings: Settings
    engine: sa.Engine
    feed: EventFeed
    images: ImageSource
    metrics: ApiMetrics
    health: HealthPolicy
    store: BlobStore
    faucet: DevFaucet | None = None


async def context(request: Request) -> ApiContext:
    ctx = getattr(request.app.state, "daas", None)
    if not isinstance(ctx, ApiContext):
        raise RuntimeError("the API's lifespan has not run: serve the app with lifespan='on'")
    return ctx


ContextDep = Annotated[ApiContext, Depends(context)]


async def _settings(ctx: ContextDep) -> Settings:
    return ctx.settings


async def _engine(ctx: ContextDep) -> sa.Engine:
    return ctx.engine


async def _feed(ctx: ContextDep) -> EventFeed:
    return ctx.feed


async def _images(ctx: ContextDep) -> ImageSource:
    return ctx.images


async def _metrics(ctx: ContextDep) -> ApiMetrics:
    return ctx.metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[sa.Engine, Depends(_engine)]
FeedDep = Annotated[EventFeed, Depends(_feed)]
ImagesDep = Annotated[ImageSource, Depends(_images)]
MetricsDep = Annotated[ApiMetrics, Depends(_metrics)]


def registry_host(settings: Settings) -> str:
    """host[:port] under which `docker pull` reaches this API's `/v2` (from `api.public_url` if set)."""
    return settings.registry_host
