"""``/api/v1/health``, ``/live`` and ``/ready``: the paths nginx, compose, Kubernetes and the CLI share."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from neurmatic.api.health.service import health_report, is_ready
from neurmatic.api.responses import success
from neurmatic.api.state import clients_of

router = APIRouter(prefix="/health", tags=["health"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/live", summary="Liveness: 200 while the process serves")
async def live() -> JSONResponse:
    response = success({"status": "alive"})
    response.headers.update(NO_STORE)
    return response


@router.get(
    "/ready",
    summary="Readiness: 200 only when the primary (read-write) and Redis answer",
    responses={503: {"description": "not ready"}},
)
async def ready(request: Request) -> JSONResponse:
    ok, components = await is_ready(clients_of(request))
    response = success(
        {"status": "ready" if ok else "not_ready", "components": components}, status_code=200 if ok else 503
    )
    response.headers.update(NO_STORE)
    return response


@router.get(
    "",
    summary="Component report: status, version, uptime, instance, components",
    responses={503: {"description": "unhealthy"}},
)
async def health(request: Request) -> JSONResponse:
    report = await health_report(clients_of(request))
    response = success(report, status_code=503 if report["status"] == "unhealthy" else 200)
    response.headers.update(NO_STORE)
    return response
