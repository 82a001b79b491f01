"""The web dashboard (`web/`, built by Vite into `web/dist`) served at `/`, same origin as the API.

    /assets/<name>-<hash>.js|css   immutable, cached for a year (the name changes with the content)
    /<file in dist>                as is (favicon and the like)
    any other GET for a page       index.html: the app routes `/builds/0x...` itself
    /v1, /v2, /healthz, ...        never here: an unknown API path stays a problem+json 404

Without a build, `/` explains how to make one instead of failing obscurely. The Content-Security-Policy lets
the page talk to this origin and to the configured Walrus publisher and aggregator, nothing else: the browser
never needs a Sui RPC of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from daas.config import Settings

__all__ = ["locate", "mount"]

_log = logging.getLogger(__name__)

_API_PREFIXES = ("v1", "v2", "healthz", "metrics", "docs", "redoc", "openapi.json", "assets")
_IMMUTABLE = "public, max-age=31536000, immutable"

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DaaS</title></head>
<body><h1>The DaaS dashboard is not built</h1>
<p>Build it with <code>npm ci --prefix web &amp;&amp; npm run build --prefix web</code> (or run
<code>./scripts/dev</code>), then reload. The API itself is at <a href="/docs">/docs</a>.</p></body></html>
"""


def locate(settings: Settings) -> Path | None:
    """`api.web_dir`, else the repository's `web/dist` next to this package (a source checkout)."""
    if settings.api.web_dir is not None:
        return settings.api.web_dir.expanduser()
    candidate = Path(__file__).resolve().parents[1] / "web" / "dist"
    return candidate if candidate.is_dir() else None


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(settings: Settings) -> str:
    walrus = sorted(
        {
            origin
            for origin in (
                _origin(settings.walrus_publisher_url),
                _origin(settings.walrus_aggregator_url),
            )
            if origin
        }
    )
    connect = " ".join(["'self'", *walrus])
    return (
        "default-src 'self'; script-src 'self'; "
        # dapp-kit's components set CSS variables in style attributes
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


def mount(app: FastAPI, settings: Settings, dist: Path | None) -> None:
    """Register the dashboard's routes last, so every API route is matched first."""
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
    }
    root = dist.resolve() if dist is not None and (dist / "index.html").is_file() else None
    if root is not None:
        app.mount("/assets", _Immutable(directory=root / "assets", check_dir=False), name="assets")
    elif dist is not None:
        _log.warning("no dashboard at %s (index.html missing): run `npm run build` in web/", dist)

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    async def page(path: str, request: Request) -> Response:
        if path.split("/", 1)[0] in _API_PREFIXES:
            raise StarletteHTTPException(404)
        if root is None:
            return HTMLResponse(_NOT_BUILT, status_code=503, headers=headers)
        if path and "/" not in path:
            candidate = root / path
            if candidate.is_file() and candidate.resolve().parent == root:
                return FileResponse(candidate, headers=headers)
        if path and "text/html" not in request.headers.get("accept", ""):
            raise StarletteHTTPException(404)
        return FileResponse(root / "index.html", headers={**headers, "Cache-Control": "no-cache"})


class _Immutable(StaticFiles):
    """Hashed asset names: cache them for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = _IMMUTABLE
        return response
