"""The one success body and the one error body of the API (see DESIGN.md)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


def success(data: Any, *, meta: Any = None, status_code: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    return JSONResponse(body, status_code=status_code)


def error(
    code: str, message: str, *, status_code: int, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": code, "message": message, "details": details}},
        status_code=status_code,
        headers=headers,
    )
