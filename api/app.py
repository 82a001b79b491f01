"""`create_app`: the FastAPI application, its lifespan, middleware and routers.

    app = create_app(settings)                       # owns an engine and a Walrus client
    app = create_app(settings, engine=e, blob_store=s, notifier=wakeup)   # shares the caller's

The lifespan creates what was not passed in (and closes only that), starts the event feed (the one reader
of `build_events` that every SSE client of this process shares) in a task group, and stores the per-app
`ApiContext` that routes receive through dependencies. Nothing is created at import time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from api import errors, web
from api.chain import ChainAccess
from api.deps import ApiContext, DevFaucet, HealthPolicy
from api.feed import EventFeed
from api.images import ImageSource
from api.metrics import ApiMetrics
from api.middleware import MetricsMiddleware
from api.models import EventData, OciErrors, Problem
from api.routes import builds, config, dev, events, metrics, registry, requests, verification
from api.routes import health as health_routes
from daas.chain.ports import ChainWriter
from daas.config import Settings
from daas.db import notify
from daas.db.engine import create_engine_for
from daas.errors import DatabaseError
from daas.walrus import BlobStore, WalrusClient

__all__ = ["create_app"]

_log = logging.getLogger(__name__)

DESCRIPTION = """
Live status, logs and images of DaaS builds: container builds requested on Sui, built by an attested
runner, stored on Walrus.

- `/v1/builds`: builds, their step timings, results (with Walrus blob ids and explorer links), logs and a
  Kubernetes Deployment for the image.
- `/v1/builds/{request_id}/events` and `/v1/events`: Server-Sent Events. `id:` is the global event id,
  `event:` the kind (`status`, `step`, `log`, `result`), `data:` JSON (schema `EventData`). Reconnect with
  `Last-Event-ID` (or `?after=`) to receive exactly what was missed.
- `/v2`: a read-only OCI registry: `docker pull HOST/daas/<request id>@sha256:<digest>`.
- `/v1/requests/prepare` + `/execute`: request a build with the user's own wallet signing.
- `/v1/builds/{request_id}/verification`: the checklist of `daas verify`, run here from the chain and Walrus.
- `/healthz`, `/metrics` (Prometheus); `/` the web dashboard, when it is built.

Errors are RFC 9457 problem details (`application/problem+json`); under `/v2`, OCI error bodies.
"""


def create_app(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    blob_store: BlobStore | None = None,
    notifier: notify.Wakeup | None = None,
    health: HealthPolicy | None = None,
    cross_process_events: bool = True,
    chain: ChainWriter | None = None,
    faucet: DevFaucet | None = None,
    web_dir: Path | None = None,
) -> FastAPI:
    """The API for `settings`.

    `engine` and `blob_store` are shared with the caller when given (the caller closes them); otherwise the
    lifespan creates them from the settings. `notifier` is the in-process `Wakeup` of writers in the same
    process (`daas dev`); events from other processes arrive through the database's own listener
    (LISTEN/NOTIFY or polling), which `cross_process_events=False` switches off. `chain` is the Sui client
    of `/v1/requests` (shared, not closed); without it one is created from the settings on first use.
    `faucet` is `daas dev`'s gas for the browser's development wallet. `web_dir` holds the built dashboard
    (default: `api.web_dir`, else the repository's `web/dist` when it exists); it is served at `/`.
    """
    metrics_ = ApiMetrics()
    policy = health or HealthPolicy(max_heartbeat_age_s=max(60.0, settings.runner.lease_s * 2.0))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            db = engine
            if db is None:
                db = create_engine_for(settings.effective_database_url)
                stack.callback(db.dispose)
            store = blob_store
            if store is None:
                client = WalrusClient.from_settings(settings)
                stack.push_async_callback(client.aclose)
                store = client
            chain_access = ChainAccess(settings, chain)
            stack.push_async_callback(chain_access.aclose)
            app.state.daas_chain = chain_access
            feed = EventFeed(
                db,
                capacity=settings.api.sse_client_buffer,
                metrics=metrics_,
                notifier=notifier,
                cross_process=cross_process_events,
            )
            try:
                await feed.start()
            except DatabaseError as exc:
                # Serve anyway: /healthz reports the database, and the feed keeps trying.
                _log.warning("starting without the database: %s", exc)
            app.state.daas = ApiContext(
                settings=settings,
                engine=db,
                feed=feed,
                images=ImageSource(db, store, metrics_),
                metrics=metrics_,
                health=policy,
                store=store,
                faucet=faucet,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(feed.run, name="event-feed")
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
                    del app.state.daas

    app = FastAPI(
        title="DaaS API",
        version="1",
        summary="Verifiable container builds on Sui and Walrus: status, live events, images.",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "builds", "description": "Builds, results, logs, Kubernetes manifests"},
            {"name": "events", "description": "Server-Sent Events: live build events, resumable"},
            {"name": "registry", "description": "Read-only OCI distribution API (docker pull)"},
            {"name": "requests", "description": "Request a build with the user's wallet signing"},
            {"name": "operations", "description": "Configuration, health and metrics"},
        ],
    )
    errors.install(app)
    requests.install(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics_)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST"],
            allow_headers=["Last-Event-ID", "Accept", "Content-Type"],
            expose_headers=["Link", "X-Next-Line", "Docker-Content-Digest"],
            max_age=600,
        )
    for module in (builds, verification, events, registry, requests, config, dev, health_routes):
        app.include_router(module.router)
    app.include_router(metrics.router)
    web.mount(app, settings, web_dir or web.locate(settings))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the schemas that responses name by reference only (problem details, OCI
    errors) and the `data:` of SSE events, which no JSON response carries."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", ()):
                    _drop_null(parameter)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, OciErrors, EventData):
            document = model.model_json_schema(
                ref_template="#/components/schemas/{model}", mode="serialization"
            )
            components.update(document.pop("$defs", {}))
            components[model.__name__] = document
        app.openapi_schema = schema
    return app.openapi_schema


def _drop_null(parameter: dict[str, Any]) -> None:
    """`anyOf: [X, null]` -> X for a parameter: an absent parameter is `required: false`; a query string
    or header cannot carry a JSON null."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            del schema["anyOf"]
            schema.update(kept[0])
