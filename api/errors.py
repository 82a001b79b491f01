"""The one place where errors become HTTP responses.

Routes and services raise domain errors (`daas.errors`) or the few API errors defined here; the handlers
installed by `install` turn them into RFC 9457 problem details (`application/problem+json`), or into OCI error
bodies (`{"errors": [{"code": ...}]}`) for the registry under `/v2`, because `docker pull` only reads those.
Nothing else in the API builds an error response or raises `HTTPException`.

    DaasError                 mapped by class (most specific first):
      NotFound                  404
      BlobNotFound              502 (404 BLOB_UNKNOWN under /v2): a blob the chain names is gone from Walrus
      BlobIntegrityError        502: Walrus served bytes that failed verification
      BlobStoreUnavailable      503 + Retry-After
      BlobStoreError            502
      ChainUnavailable          503 + Retry-After
      ChainError                502
      ConfigError               503: this API lacks a setting the route needs (named in the detail)
      DatabaseError             503 + Retry-After
      other                     500
    InvalidParameter          422 (a parameter checked by hand, e.g. an opaque cursor)
    RegistryError             the OCI status and code it carries
    RequestValidationError    422 with one entry per parameter
    Starlette HTTPException   its own status (unknown route 404, wrong method 405)
    anything else             500, logged with its traceback; the body says nothing internal
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.models import OciError, OciErrors, Problem
from daas.errors import (
    BlobIntegrityError,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
    ChainError,
    ChainUnavailable,
    ConfigError,
    DaasError,
    DatabaseError,
    NotFound,
)

__all__ = [
    "OCI_MEDIA_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "REGISTRY_RESPONSES",
    "InvalidParameter",
    "RegistryError",
    "install",
]

_log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
OCI_MEDIA_TYPE = "application/json"
PROBLEM_TYPE_BASE = "https://daas.dev/problems/"
REGISTRY_PREFIX = "/v2"
RETRY_AFTER_S = "1"


class InvalidParameter(DaasError):
    """A request parameter that passed type checks but is not acceptable (names the parameter)."""

    def __init__(self, message: str, *, param: str, location: str = "query") -> None:
        super().__init__(message)
        self.param = param
        self.location = location


class RegistryError(DaasError):
    """An OCI distribution error (`code` from the specification's list) with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **detail: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers
        self.detail = detail or None


def _problem_schema(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# Declared on every router so the OpenAPI document lists the problem responses (and FastAPI does not
# add its default 422 schema, which would not match what the handler sends).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _problem_schema("Not found"),
    422: _problem_schema("Invalid parameter"),
    500: _problem_schema("Internal error"),
    502: _problem_schema("Walrus served something unusable"),
    503: _problem_schema("Database or Walrus unavailable; retry"),
}

REGISTRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {OCI_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/OciErrors"}}},
    }
    for status, description in [
        (400, "Invalid name or digest"),
        (404, "Unknown name, manifest or blob"),
        (422, "Invalid parameter"),
        (502, "Walrus served something unusable"),
        (503, "Database or Walrus unavailable; retry"),
    ]
}


def _problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_TYPE_BASE + kind if kind else "about:blank",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _oci(
    status: int,
    code: str,
    message: str,
    detail: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = OciErrors(errors=[OciError(code=code, message=message, detail=detail)])
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=OCI_MEDIA_TYPE,
        headers={"Docker-Distribution-API-Version": "registry/2.0", **(headers or {})},
    )


def _is_registry(request: Request) -> bool:
    path = request.url.path
    return path == REGISTRY_PREFIX or path.startswith(REGISTRY_PREFIX + "/")


# (status, title, problem kind, OCI code, extra headers) per domain error class, most specific first.
_DOMAIN: list[tuple[type[DaasError], int, str, str, str, dict[str, str]]] = [
    (NotFound, 404, "Not Found", "not-found", "NAME_UNKNOWN", {}),
    (BlobNotFound, 502, "Blob Missing on Walrus", "blob-missing", "BLOB_UNKNOWN", {}),
    (BlobIntegrityError, 502, "Blob Failed Verification", "blob-integrity", "UNAVAILABLE", {}),
    (
        BlobStoreUnavailable,
        503,
        "Walrus Unavailable",
        "walrus-unavailable",
        "UNAVAILABLE",
        {"Retry-After": RETRY_AFTER_S},
    ),
    (BlobStoreError, 502, "Walrus Error", "walrus-error", "UNAVAILABLE", {}),
    (
        ChainUnavailable,
        503,
        "Sui Node Unavailable",
        "chain-unavailable",
        "UNAVAILABLE",
        {"Retry-After": RETRY_AFTER_S},
    ),
    (ChainError, 502, "Sui Node Error", "chain-error", "UNAVAILABLE", {}),
    (ConfigError, 503, "Not Configured", "not-configured", "UNAVAILABLE", {}),
    (
        DatabaseError,
        503,
        "Database Unavailable",
        "database-unavailable",
        "UNAVAILABLE",
        {"Retry-After": RETRY_AFTER_S},
    ),
]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DaasError)
    if isinstance(exc, InvalidParameter):
        errors = [{"loc": [exc.location, exc.param], "msg": str(exc)}]
        if _is_registry(request):
            return _oci(422, "UNSUPPORTED", str(exc))
        return _problem(
            request, 422, "Invalid Parameter", str(exc), kind="invalid-parameter", errors=errors
        )
    if isinstance(exc, RegistryError):
        return _oci(exc.status, exc.code, str(exc), exc.detail, headers=exc.headers)
    for cls, status, title, kind, oci_code, headers in _DOMAIN:
        if isinstance(exc, cls):
            if status >= 500:
                _log.warning("%s %s: %s", request.method, request.url.path, exc)
            if _is_registry(request):
                if cls is BlobNotFound:
                    return _oci(404, oci_code, str(exc))
                return _oci(status, oci_code, str(exc), headers=headers)
            return _problem(request, status, title, str(exc), kind=kind, headers=headers)
    _log.error("%s %s: unexpected %s", request.method, request.url.path, exc, exc_info=exc)
    return _problem(request, 500, "Internal Server Error", str(exc), kind="internal")


def _location(loc: tuple[Any, ...] | list[Any]) -> list[str]:
    return [str(part) for part in loc]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": _location(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors)
    if _is_registry(request):
        names = {str(e["loc"][-1]) for e in errors if e["loc"]}
        code = "DIGEST_INVALID" if names & {"digest", "reference"} else "NAME_INVALID"
        return _oci(400, code, detail or "invalid request")
    return _problem(
        request, 422, "Invalid Parameter", detail or "invalid request", kind="invalid-parameter",
        errors=errors,
    )  # fmt: skip


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if _is_registry(request):
        if exc.status_code == 405:
            return _oci(405, "UNSUPPORTED", "this registry is read-only", headers=headers)
        return _oci(exc.status_code, "NAME_UNKNOWN", "repository name not known to registry")
    title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP Error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}"
    return _problem(request, exc.status_code, title, detail, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    if _is_registry(request):
        return _oci(500, "UNAVAILABLE", "internal error")
    return _problem(request, 500, "Internal Server Error", "internal error", kind="internal")


def install(app: FastAPI) -> None:
    """Install every handler on `app`."""
    app.add_exception_handler(DaasError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
