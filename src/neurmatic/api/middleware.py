"""Request id, timing and the structured access log (pure ASGI middleware: no body buffering)."""

from __future__ import annotations

import logging
import re
import time
import uuid

import sentry_sdk
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurmatic.api.metrics.middleware import route_template
from neurmatic.api.security.internal_peer import is_internal_peer

log = logging.getLogger("neurmatic.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_QUIET_PATHS = ("/api/v1/health",)  # probes hit these every few seconds; logging them drowns the log


class RequestContextMiddleware:
    """Takes the request id nginx sends (or makes one), echoes it, times the request, logs it.

    ``X-Served-By`` (the instance's name) goes only to direct requests from the internal network: the
    public must not learn the instances behind the edge, and nginx's access log (``upstream=``) already
    says which one answered a relayed request."""

    def __init__(self, app: ASGIApp, instance: str) -> None:
        self.app = app
        self.instance = instance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        # Sentry's ASGI integration gives each request its own scope: tag the events raised in it.
        sentry_sdk.get_isolation_scope().set_tag("request_id", request_id)
        started = time.perf_counter()
        status = 500
        served_by = [(b"x-served-by", self.instance.encode())] if is_internal_peer(scope) else []

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(served_by)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            path = scope.get("path", "")
            if not path.startswith(_QUIET_PATHS) or status >= 500:
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": path,
                        "route": route_template(scope),
                        "user_id": scope.get("state", {}).get("user_id"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
