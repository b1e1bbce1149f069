"""Sentry in the API: unexpected errors reported with their request id, and what Sentry records during a
request tagged with it. Starting the SDK (and what it must never send) is ``neurmatic.sentry``."""

from __future__ import annotations

import sentry_sdk
from starlette.types import ASGIApp, Receive, Scope, Send


def report_exception(exc: BaseException, request_id: str | None) -> None:
    """Send an unexpected error to Sentry (a no-op when Sentry is off)."""
    with sentry_sdk.new_scope() as scope:
        if request_id:
            scope.set_tag("request_id", request_id)
        sentry_sdk.capture_exception(exc)


class SentryRequestTag:
    """Tags what Sentry records during a request with its request id (installed only with Sentry on:
    inside the app, where Sentry's ASGI integration has given the request its own isolation scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        if scope["type"] == "http" and request_id:
            sentry_sdk.get_isolation_scope().set_tag("request_id", request_id)
        await self.app(scope, receive, send)
