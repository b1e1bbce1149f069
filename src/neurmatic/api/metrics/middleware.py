"""Counts and times every HTTP request by method, route template and status."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurmatic.api.metrics.registry import ApiMetrics

UNMATCHED = "unmatched"  # 404s for arbitrary paths must not create a label each


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/articles/{slug}``), or ``unmatched``.

    FastAPI records the full template of an included router's route in its own scope entry; a plain
    Starlette route is in ``scope["route"]``.
    """
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if template:
        return str(template)
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.in_progress.dec()
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            if status >= 500:
                self.metrics.errors.labels(route).inc()
