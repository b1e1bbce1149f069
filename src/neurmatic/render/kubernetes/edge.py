"""The Ingress: TLS, and per group of paths the same rate limit, body limit and timeouts as the nginx
config (``render/nginx.py``), read from the same constants.

ingress-nginx applies an Ingress's annotations to the locations of its own paths, so each rate-limit
zone of the nginx config is one Ingress here, all on the same host. Only ``/api/`` and ``/admin/`` are
routed: ``/internal/`` (the metrics scrape) has no route, so the controller answers it 404 itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neurmatic.errors import ConfigurationError
from neurmatic.render import app_container as app
from neurmatic.render.kubernetes.names import TLS_SECRET, Manifest, metadata
from neurmatic.render.nginx import (
    CLIENT_MAX_BODY_SIZE,
    RATE_ZONES,
    SIGN_IN_TIMEOUT,
    UPLOAD_TIMEOUT,
    UPSTREAM_TIMEOUT,
    WEBSOCKET_TIMEOUT,
    production_nginx_context,
)

ANNOTATION = "nginx.ingress.kubernetes.io/"
INGRESS_CLASS = "nginx"
_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class EdgeRoute:
    """One group of paths with the nginx config's limits for them (``zone`` None: not rate limited)."""

    name: str
    paths: tuple[tuple[str, str], ...]  # (path, pathType)
    zone: str | None
    timeout: str


ROUTES = (
    EdgeRoute(
        "health",
        tuple((path, "Exact") for path in ("/api/v1/health", app.LIVE_PATH, app.READY_PATH)),
        None,
        UPSTREAM_TIMEOUT,
    ),
    EdgeRoute(
        "signin",
        tuple(
            (path, "Exact") for path in ("/api/v1/auth/login", "/api/v1/auth/2fa/challenge", "/admin/login")
        ),
        "signin",
        SIGN_IN_TIMEOUT,
    ),
    EdgeRoute("register", (("/api/v1/auth/register", "Exact"),), "register", SIGN_IN_TIMEOUT),
    EdgeRoute("websocket", (("/api/v1/ws", "Prefix"),), "api", WEBSOCKET_TIMEOUT),
    EdgeRoute("media", (("/api/v1/media", "Exact"),), "api", UPLOAD_TIMEOUT),
    EdgeRoute("api", (("/api/", "Prefix"), ("/admin/", "Prefix")), "api", UPSTREAM_TIMEOUT),
)


def seconds(duration: str) -> int:
    """nginx's ``5s`` / ``1h`` as the whole seconds ingress-nginx's timeout annotations take."""
    match = re.fullmatch(r"(\d+)([smh])", duration)
    if match is None:
        raise ConfigurationError(f"nginx duration {duration!r} is not <number><s|m|h>")
    return int(match.group(1)) * _UNITS[match.group(2)]


def rate_limit_annotations(zone_name: str) -> dict[str, str]:
    """``limit_req zone=… burst=… nodelay`` as ingress-nginx says it: a rate per second or per minute,
    and the burst as a whole multiple of that rate."""
    zone = RATE_ZONES[zone_name]
    per_second = zone.per_second >= 1
    limit = round(zone.per_second if per_second else zone.per_second * 60)
    if zone.burst % limit:
        raise ConfigurationError(
            f"rate zone {zone_name}: burst {zone.burst} is not a multiple of {limit}",
            hint="ingress-nginx expresses a burst as a multiple of the rate",
        )
    return {
        ANNOTATION + ("limit-rps" if per_second else "limit-rpm"): str(limit),
        ANNOTATION + "limit-burst-multiplier": str(zone.burst // limit),
    }


def ingress(route: EdgeRoute) -> Manifest:
    host = production_nginx_context().server_name
    timeout = str(seconds(route.timeout))
    annotations = {
        ANNOTATION + "proxy-body-size": CLIENT_MAX_BODY_SIZE,
        ANNOTATION + "proxy-read-timeout": timeout,
        ANNOTATION + "proxy-send-timeout": timeout,
        ANNOTATION + "ssl-redirect": "true",
        **(rate_limit_annotations(route.zone) if route.zone else {}),
    }
    backend = {"service": {"name": "neurmatic-api", "port": {"name": "http"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(f"neurmatic-{route.name}", "edge", annotations=annotations),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [host], "secretName": TLS_SECRET}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {"path": path, "pathType": kind, "backend": backend} for path, kind in route.paths
                        ]
                    },
                }
            ],
        },
    }


def ingresses() -> list[Manifest]:
    return [ingress(route) for route in ROUTES]
