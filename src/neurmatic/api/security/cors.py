"""CORS (Starlette's), with its refusals in the API's error body: a preflight from an origin, method or
header the API does not allow was a plain-text 400 ("Disallowed CORS origin")."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from neurmatic.api.responses import error


class JsonCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode(errors="replace") or "CORS preflight refused"
        refused = error("VALIDATION_ERROR", reason, status_code=response.status_code)
        for name, value in response.headers.items():  # keep Vary and the Access-Control-* answers
            if name.lower() not in ("content-length", "content-type"):
                refused.headers[name] = value
        return refused
