"""Exceptions become the one error body here, and nowhere else. Nothing internal leaks: no stack
trace, no SQL, no host; an unexpected error is logged with the request id and answered 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from neurmatic.api.observability import report_exception
from neurmatic.api.outages import install_outage_handlers
from neurmatic.api.responses import error
from neurmatic.error_codes import error_code_for_status
from neurmatic.errors import ApiError, RateLimited

log = logging.getLogger("neurmatic.api")


# RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="neurmatic"'}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.status_code == 401:
        headers = AUTHENTICATE
    return error(exc.code, exc.message, status_code=exc.status_code, details=exc.details, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(item.get("type") == "json_invalid" for item in exc.errors()):
        reason = next(
            str(i.get("ctx", {}).get("error", "")) for i in exc.errors() if i.get("type") == "json_invalid"
        )
        return error(
            "VALIDATION_ERROR",
            "the request body is not valid JSON",
            status_code=400,
            details=[{"field": "body", "message": reason or "malformed JSON"}],
        )
    details = [
        {
            "field": ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
            "message": item.get("msg", "invalid value"),
            "type": item.get("type"),
        }
        for item in exc.errors()
    ]
    return error("VALIDATION_ERROR", "the request is not valid", status_code=422, details=details)


CANDIDATE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, asked of the router itself. Starlette's 405 names
    only the first matching route's (``Allow: GET`` on /articles, which takes POST too)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in CANDIDATE_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = error_code_for_status(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = getattr(exc, "headers", None) or (AUTHENTICATE if exc.status_code == 401 else None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error(code, message, status_code=exc.status_code, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.exception("unhandled error", extra={"request_id": request_id})
    report_exception(exc, request_id)
    return error("INTERNAL_ERROR", "an unexpected error occurred", status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    install_outage_handlers(app, _unexpected_error)
    app.add_exception_handler(Exception, _unexpected_error)
