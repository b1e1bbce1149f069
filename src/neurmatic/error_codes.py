"""The error code of each HTTP status, shared by the API's error handlers and the edge (nginx): whoever
answers a request, a client reads the same ``error.code`` for the same status."""

from __future__ import annotations

ERROR_CODE_BY_STATUS: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "VALIDATION_ERROR",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    # The client's request used what the server does not implement (a transfer coding, a version).
    501: "VALIDATION_ERROR",
    502: "SERVICE_UNAVAILABLE",
    503: "SERVICE_UNAVAILABLE",
    504: "SERVICE_UNAVAILABLE",
    505: "VALIDATION_ERROR",
}


def error_code_for_status(status: int) -> str:
    """The code for ``status``: its own when it has one, else by class (4xx a bad request, 5xx ours)."""
    return ERROR_CODE_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
