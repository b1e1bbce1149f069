"""Pure ASGI middleware of the security layer: security headers, the request-size limit and the global
rate limit. (Pure ASGI rather than BaseHTTPMiddleware: no buffering, and streaming bodies stay streams.)"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurmatic.api.security.client_ip import client_ip
from neurmatic.api.security.rate_limit import Limit

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI needs its own scripts and styles (served from a CDN by FastAPI's page).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "frame-ancestors 'none'"
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


class SecurityHeadersMiddleware:
    """Every response gets the security headers, errors included; behind nginx the edge sets them too
    and hides ours, so a response never carries two copies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        csp = (
            DOCS_CSP
            if path.startswith("/api/docs")
            else DASHBOARD_CSP
            if path.startswith("/admin/")
            else API_CSP
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in (*SECURITY_HEADERS.items(), ("content-security-policy", csp)):
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
            await _send_error(send, 413, "PAYLOAD_TOO_LARGE", self._message())
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
                    await _send_error(send, 413, "PAYLOAD_TOO_LARGE", self._message())
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
    """``RATE_LIMIT_MAX_REQUESTS`` per ``RATE_LIMIT_WINDOW_MS`` per client, counted in Redis."""

    def __init__(self, app: ASGIApp, limit: Limit, trusted_proxies: list[str]) -> None:
        self.app = app
        self.limit = limit
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(UNLIMITED_PATHS):
            await self.app(scope, receive, send)
            return
        from starlette.requests import HTTPConnection

        connection = HTTPConnection(scope)
        limiter = scope["app"].state.clients.limiter
        decision = await limiter.hit("global", client_ip(connection, self.trusted), self.limit)
        headers = decision.headers()
        if not decision.allowed:
            await _send_error(
                send,
                429,
                "RATE_LIMIT_EXCEEDED",
                f"too many requests; try again in {decision.reset_seconds} s",
                headers,
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(
        {"success": False, "error": {"code": code, "message": message, "details": None}}
    ).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
