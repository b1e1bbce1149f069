"""``GET /api/v1/metrics`` (administrators) and ``GET /internal/metrics`` (the scrape endpoint, answered
only to a direct peer on an internal network; nginx never forwards /internal/)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from neurmatic.api.deps import AdminUser, Clients
from neurmatic.api.metrics.sampler import sample, sample_wal_archive
from neurmatic.api.security.internal_peer import is_internal_peer
from neurmatic.api.security.openapi import error_responses
from neurmatic.errors import Forbidden

api_router = APIRouter(tags=["metrics"])
internal_router = APIRouter(include_in_schema=False)


async def _exposition(request: Request, clients: Clients) -> Response:
    metrics = request.app.state.metrics
    await sample(clients, metrics)  # fresh gauges for this scrape
    await sample_wal_archive(clients, metrics)
    return Response(generate_latest(metrics.exposition_registry()), media_type=CONTENT_TYPE_LATEST)


@api_router.get(
    "/metrics",
    summary="Prometheus metrics of this instance (administrators)",
    responses=error_responses(401, 403),
)
async def admin_metrics(request: Request, clients: Clients, _admin: AdminUser) -> Response:
    return await _exposition(request, clients)


@internal_router.get("/internal/metrics")
async def scrape(request: Request, clients: Clients) -> Response:
    if not is_internal_peer(request.scope):  # the scraper comes directly, never through the edge
        raise Forbidden("metrics are scraped from the internal network only")
    return await _exposition(request, clients)
