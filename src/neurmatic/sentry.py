"""Sentry, when ``SENTRY_DSN`` is set, for any of our processes (the API's instances, the worker): errors,
and traces and profiles at the configured sample rates. Nothing personal is sent (no headers, cookies or
bodies). The API's request tagging is in ``neurmatic.api.observability``."""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk

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
