"""OpenAPI descriptions of the error body, so /api/docs shows every endpoint's errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not signed in, or the token is invalid or expired",
    403: "Not allowed (role, or a missing CSRF token)",
    404: "Not found",
    409: "Conflict with existing data",
    413: "Request body too large",
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
