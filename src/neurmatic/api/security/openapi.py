"""OpenAPI descriptions of the error body, so /api/docs shows every endpoint's errors.

Routes declare the errors of their own logic (409 for a taken email, ...) with ``error_responses``; the
errors that come from the layers every request crosses are added here, in one place, to every operation
they can reach (``complete_error_responses``), so the schema lists every status code the API can answer:
a conformance run (schemathesis) counts an undocumented one as a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from neurmatic.api.security.middleware import UNLIMITED_PATHS

DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not signed in, or the token is invalid or expired",
    403: "Not allowed (role, or a missing CSRF token)",
    404: "Not found",
    409: "Conflict with existing data",
    413: "Request body too large",
    414: "Request URI too long",
    422: "Validation failed; `details` lists each field",
    429: "Rate limited; see Retry-After",
    503: "A dependency is unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    success: bool = False
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS.get(code, "Error")} for code in codes}


ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"description": "The scheme to sign in with", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
UNSAFE_METHODS = {"post", "put", "patch", "delete"}
Operation = dict[str, Any]


def _has_body(_path: str, _method: str, op: Operation) -> bool:
    return "requestBody" in op


def _signs_in(_path: str, _method: str, op: Operation) -> bool:
    # Required and optional sign-in alike: a malformed Authorization header or a bad token is a 401.
    return bool(op.get("security"))


def _cookie_write(path: str, method: str, op: Operation) -> bool:
    return method in UNSAFE_METHODS and _signs_in(path, method, op)  # the CSRF check of cookie sessions


def _has_path_parameter(_path: str, _method: str, op: Operation) -> bool:
    return any(p.get("in") == "path" for p in op.get("parameters", []))


def _has_input(path: str, method: str, op: Operation) -> bool:
    return bool(op.get("parameters")) or _has_body(path, method, op)


def _rate_limited(path: str, _method: str, _op: Operation) -> bool:
    return not path.startswith(UNLIMITED_PATHS)


def _any(_path: str, _method: str, _op: Operation) -> bool:
    return True


def _uses_a_dependency(path: str, _method: str, _op: Operation) -> bool:
    return path != "/api/v1/health/live"  # liveness touches neither PostgreSQL nor Redis


# status code → which operations can answer it, and why
LAYER_ERRORS: dict[int, Callable[[str, str, Operation], bool]] = {
    # a body that is not JSON (api/errors.py); at the edge, a header over nginx's buffers or a bad Host
    400: _any,
    401: _signs_in,  # deps.py
    403: _cookie_write,  # deps.py: the CSRF token of cookie sessions
    404: _has_path_parameter,  # nothing by that id, slug or name
    413: _has_body,  # BodySizeLimitMiddleware
    414: _any,  # the edge: a URI over edge_policy.MAX_URI_BYTES
    422: _has_input,  # request validation
    429: _rate_limited,  # GlobalRateLimitMiddleware
    503: _uses_a_dependency,  # PostgreSQL or Redis unavailable (api/outages.py)
}


def complete_error_responses(spec: dict[str, Any]) -> dict[str, Any]:
    """Add to every operation of ``spec`` the error responses the shared layers can give it, each with
    the error body (FastAPI's own 422 schema, HTTPValidationError, is not what the API answers)."""
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            for code, applies in LAYER_ERRORS.items():
                if str(code) not in responses and applies(path, method, op):
                    responses[str(code)] = {"description": DESCRIPTIONS[code]}
            for key, response in responses.items():
                if key.isdigit() and int(key) >= 400:
                    response["content"] = ERROR_CONTENT
                    if int(key) in RESPONSE_HEADERS:
                        response.setdefault("headers", RESPONSE_HEADERS[int(key)])
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" not in schemas:  # no route declared an error of its own
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas["ErrorBody"] = body
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve the schema FastAPI generates, completed with the shared error responses (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
