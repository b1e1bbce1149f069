"""The first code every HTTP request meets, before FastAPI: its request id, timing, metrics, access log
and security headers, in one layer; and the one request hot enough to answer here, the article list
(articles/fast_list.py).

One layer, not four stacked middlewares: each pure-ASGI middleware wraps ``send`` again and adds a
call per message, and on the cached read (about 0.2 ms of work) the stack cost more than the answer.
The list is answered before FastAPI's middleware, routing and dependency solving; an anonymous one
from the cache, in the same Redis round trip that counts the request against the global rate limit
(see ``articles/cache.py``). Everything this layer guarantees applies to it as to any answer; a request
the lean path does not take goes on to the app, and is counted there, once.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurmatic.api.metrics.middleware import route_template
from neurmatic.api.metrics.registry import ApiMetrics
from neurmatic.api.security.client_ip import client_ip_of_scope
from neurmatic.api.security.internal_peer import is_internal_peer
from neurmatic.api.security.middleware import (
    SCOPE_DECISION,
    FastPath,
    security_headers_for,
    send_error_json,
)
from neurmatic.api.security.rate_limit import Limit
from neurmatic.logging import JsonLines

Series = tuple[Any, Any, Any]  # a label set's request counter, latency histogram and 5xx counter

log = logging.getLogger("neurmatic.access")
access_log = JsonLines(log)
_MAX_SERIES = 4096  # label sets whose metric children are kept at hand (methods are the client's words)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_QUIET_PATHS = ("/api/v1/health",)  # probes hit these every few seconds; logging them drowns the log
# Headers that make a request something only the full stack may answer: CORS (an Origin to check and
# answer), and a body (the size limit).
_FULL_STACK_HEADERS = (b"origin", b"content-length", b"transfer-encoding")


class FrontDoor:
    """Takes the request id nginx sends (or makes one), echoes it, times, counts and logs the request,
    adds the security headers, and answers cached anonymous list reads.

    ``X-Served-By`` (the instance's name) goes only to direct requests from the internal network: the
    public must not learn the instances behind the edge, and nginx's access log (``upstream=``) already
    says which one answered a relayed request. The security headers are added where the response did not
    set its own; behind nginx the edge sets them too and hides ours, so a response never carries two."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        instance: str,
        metrics: ApiMetrics,
        limit: Limit,
        trusted_proxies: list[str],
        fast_path: FastPath | None = None,
    ) -> None:
        self.app = app
        self.served_by = (b"x-served-by", instance.encode())
        self.metrics = metrics
        self.limit = limit
        self.trusted = trusted_proxies
        self.fast_path = fast_path
        self._series: dict[tuple[str, str, int], Series] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode())]
        if is_internal_peer(scope):
            added.append(self.served_by)
        defaults = security_headers_for(scope["path"])
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name for name, _ in headers}  # ASGI header names are lowercase
                headers.extend(header for header in defaults if header[0] not in present)
                headers.extend(added)
                message["headers"] = headers
            await send(message)

        self.metrics.in_flight += 1  # published to the gauge by the sampler (registry.py)
        try:
            if not await self._answered_here(scope, receive, send_with_headers):
                await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.in_flight -= 1
            self._record(scope, request_id, status, time.perf_counter() - started)

    async def _answered_here(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """True when the lean path answered the request (or the rate limit refused it)."""
        if self.fast_path is None or any(name in _FULL_STACK_HEADERS for name, _ in scope["headers"]):
            return False
        answer = await self.fast_path(scope, client_ip_of_scope(scope, self.trusted), self.limit)
        if answer is None:
            return False
        decision, response = answer
        scope["state"][SCOPE_DECISION] = decision
        rate_headers = decision.raw_headers()
        if response is None:
            await send_error_json(send, 429, decision.refusal(), rate_headers)
        else:
            response.raw_headers.extend(rate_headers)
            await response(scope, receive, send)
        return True

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope["method"]
        requests, latency, errors = self._metrics_of(method, route, status)
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()
        path = scope["path"]
        if not path.startswith(_QUIET_PATHS) or status >= 500:
            state: dict[str, Any] = scope["state"]
            access_log.info(
                "request",
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "route": route,
                    "user_id": state.get("user_id"),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )

    def _metrics_of(self, method: str, route: str, status: int) -> Series:
        """The metric children of a label set (``labels()`` looks them up under a lock each time)."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            metrics = self.metrics
            series = (
                metrics.requests.labels(method, route, str(status)),
                metrics.latency.labels(method, route),
                metrics.errors.labels(route) if status >= 500 else None,
            )
            if len(self._series) < _MAX_SERIES:
                self._series[key] = series
        return series


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            return incoming if _REQUEST_ID.match(incoming) else _new_request_id()
    return _new_request_id()


def _new_request_id() -> str:
    """128 random bits in hex, as ``uuid4().hex`` gave (less its 6 fixed bits) at a quarter of the cost."""
    return os.urandom(16).hex()
