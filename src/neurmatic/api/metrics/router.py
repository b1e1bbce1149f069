"""``GET /api/v1/metrics`` (administrators) and ``GET /internal/metrics`` (the scrape endpoint, answered
only to a direct peer on an internal network; nginx never forwards /internal/)."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from neurmatic.api.deps import AdminUser, Clients
from neurmatic.api.metrics.sampler import sample
from neurmatic.api.security.openapi import error_responses
from neurmatic.errors import Forbidden

api_router = APIRouter(tags=["metrics"])
internal_router = APIRouter(include_in_schema=False)
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
)


async def _exposition(request: Request, clients: Clients) -> Response:
    metrics = request.app.state.metrics
    await sample(clients, metrics)  # fresh gauges for this scrape
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@api_router.get(
    "/metrics",
    summary="Prometheus metrics of this instance (administrators)",
    responses=error_responses(401, 403),
)
async def admin_metrics(request: Request, clients: Clients, _admin: AdminUser) -> Response:
    return await _exposition(request, clients)


@internal_router.get("/internal/metrics")
async def scrape(request: Request, clients: Clients) -> Response:
    peer = request.client.host if request.client else ""
    try:
        internal = any(ipaddress.ip_address(peer) in network for network in INTERNAL_NETWORKS)
    except ValueError:
        internal = False
    # A request relayed by the edge proxy carries X-Forwarded-For: the scraper must come directly.
    if not internal or "x-forwarded-for" in request.headers:
        raise Forbidden("metrics are scraped from the internal network only")
    return await _exposition(request, clients)
