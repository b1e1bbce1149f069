"""The security layer's pure ASGI middleware (the request-size limit, the global rate limit) and the
security headers the front door adds. (Pure ASGI rather than BaseHTTPMiddleware: no buffering, and
streaming bodies stay streams.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurmatic.api.security.client_ip import client_ip_of_scope
from neurmatic.api.security.rate_limit import Decision, Limit

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI from our own origin (api/docs_page.py): its scripts and styles, its inline SVG icons (data:),
# and its style attributes (React sets some as attributes, which CSP counts as inline styles).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# rq-dashboard's pages carry inline scripts; the dashboard is admin-only and renders our own data.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "geolocation=(), microphone=(), camera=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-site",
}
UNLIMITED_PATHS = ("/api/v1/health", "/api/docs", "/api/openapi.json")
# What the front door's lean path answers: the request's rate-limit decision and the response (None
# when the decision refuses it: the front door answers the 429).
FastAnswer = tuple[Decision, "Response | None"]
# (scope, client address, limit) -> None when the lean path does not take the request, else its answer.
FastPath = Callable[[Scope, str, Limit], Awaitable[FastAnswer | None]]
SCOPE_DECISION = "rate_limit_decision"  # a request already counted carries its decision here


def _encoded(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    pairs = (*SECURITY_HEADERS.items(), ("content-security-policy", csp))
    return tuple((name.encode(), value.encode()) for name, value in pairs)


_API_HEADERS, _DOCS_HEADERS, _DASHBOARD_HEADERS = (
    _encoded(API_CSP),
    _encoded(DOCS_CSP),
    _encoded(DASHBOARD_CSP),
)


def security_headers_for(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers every response to ``path`` gets (errors included), encoded once."""
    if path.startswith("/api/docs"):
        return _DOCS_HEADERS
    return _DASHBOARD_HEADERS if path.startswith("/admin/") else _API_HEADERS


class BodySizeLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from Content-Length, or while a chunked body streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error_json(send, 413, ("PAYLOAD_TOO_LARGE", self._message()), [])
            return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            # A chunked body that grows past the limit: answer 413 ourselves, tell the app the client
            # went away, and drop whatever the app still tries to send.
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not rejected:
                    rejected = True
                    await send_error_json(send, 413, ("PAYLOAD_TOO_LARGE", self._message()), [])
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    @staticmethod
    def _exempt(scope: Scope) -> bool:
        # Uploads set their own, larger limit (media issue); everything else is JSON.
        return str(scope.get("path", "")).startswith("/api/v1/media")


class GlobalRateLimitMiddleware:
    """``RATE_LIMIT_MAX_REQUESTS`` per ``RATE_LIMIT_WINDOW_MS`` per client, counted in Redis (once: a
    request the front door already counted, in its cached-read round trip, carries its decision)."""

    def __init__(self, app: ASGIApp, limit: Limit, trusted_proxies: list[str]) -> None:
        self.app = app
        self.limit = limit
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(UNLIMITED_PATHS):
            await self.app(scope, receive, send)
            return
        decision: Decision | None = scope.get("state", {}).get(SCOPE_DECISION)
        if decision is None:
            limiter = scope["app"].state.clients.limiter
            decision = await limiter.hit("global", client_ip_of_scope(scope, self.trusted), self.limit)
        rate_headers = decision.raw_headers()
        if not decision.allowed:
            await send_error_json(send, 429, decision.refusal(), rate_headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *rate_headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def send_error_json(
    send: Send, status: int, code_and_message: tuple[str, str], headers: list[tuple[bytes, bytes]]
) -> None:
    """The API's error body, answered without the app (the app's handlers are not reached)."""
    code, message = code_and_message
    body = orjson.dumps({"success": False, "error": {"code": code, "message": message, "details": None}})
    await send_json(send, status, body, headers)


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*raw_headers, *headers]})
    await send({"type": "http.response.body", "body": body})
