"""``/api/v1/health``, ``/live`` and ``/ready``: the paths nginx, compose, Kubernetes and the CLI share.

Anyone may ask whether the service is healthy; only administrators and the internal network learn why.
The full report names the version, the instance, the database and Redis roles, replication lag and
queue counts: a map of the back end that an anonymous caller must not get."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from neurmatic.api.deps import OptionalUser
from neurmatic.api.health.service import health_report, is_ready
from neurmatic.api.responses import success
from neurmatic.api.security.internal_peer import is_internal_peer
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.state import clients_of
from neurmatic.domain.users.models import Role

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
    data: dict[str, Any] = {"status": "ready" if ok else "not_ready"}
    if is_internal_peer(request.scope):  # which dependency failed: for the operators, not the public
        data["components"] = components
    response = success(data, status_code=200 if ok else 503)
    response.headers.update(NO_STORE)
    return response


@router.get(
    "",
    summary="The verdict (healthy, degraded, unhealthy); with the component report for administrators "
    "and the internal network (version, uptime, instance, components)",
    responses={503: {"description": "unhealthy"}, **error_responses(401)},
)
async def health(request: Request, viewer: OptionalUser) -> JSONResponse:
    report = await health_report(clients_of(request))
    sees_details = is_internal_peer(request.scope) or (viewer is not None and viewer.user.role is Role.ADMIN)
    data: dict[str, Any] = report if sees_details else {"status": report["status"]}
    response = success(data, status_code=503 if report["status"] == "unhealthy" else 200)
    response.headers.update(NO_STORE)
    return response
