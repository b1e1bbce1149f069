"""Sentry, when ``SENTRY_DSN`` is set: errors (with the request id), and traces and profiles at the
configured sample rates. Nothing personal is sent (no headers, cookies or bodies)."""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from starlette.types import ASGIApp, Receive, Scope, Send

from neurmatic import __version__
from neurmatic.settings import Settings

log = logging.getLogger("neurmatic.sentry")


def init_sentry(settings: Settings, service: str) -> bool:
    """Initialise the Sentry SDK for this process; False (and nothing sent) when no DSN is configured."""
    dsn = settings.sentry.dsn
    if dsn is None:
        return False
    sentry_sdk.init(
        dsn=dsn.get_secret_value(),
        environment=settings.sentry.environment or settings.app.environment.value,
        release=f"neurmatic@{__version__}",
        server_name=settings.app.instance,
        traces_sample_rate=settings.sentry.traces_sample_rate,
        profiles_sample_rate=settings.sentry.profiles_sample_rate,
        send_default_pii=False,
        # Frame locals hold ASGI scopes, whose headers carry bearer tokens and cookies: never send them.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
    )
    sentry_sdk.set_tag("service", service)
    log.info("sentry enabled", extra={"environment": settings.sentry.environment})
    return True


SENSITIVE_HEADERS = {"authorization", "cookie", "set-cookie", "x-csrf-token", "proxy-authorization"}


def scrub_event(event: Any, _hint: Any) -> Any:
    """Drop credentials from the request data the SDK attaches."""
    request = event.get("request") or {}
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            k: ("[removed]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()
        }
    request.pop("cookies", None)
    request.pop("data", None)
    return event


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
