"""/api/v1/notifications: list, mark read, send yourself a test (the /api/v1/ws WebSocket is socket.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from neurmatic.api.deps import Clients, CurrentUser, DbSession
from neurmatic.api.pagination import Page
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.notifications import service
from neurmatic.domain.notifications.service import notification_out
from neurmatic.errors import NotFound

router = APIRouter(tags=["notifications"])


@router.get("/notifications", summary="My notifications, newest first", responses=error_responses(401, 422))
async def list_notifications(
    principal: CurrentUser,
    db: DbSession,
    paging: Page,
    unread: bool = False,
) -> JSONResponse:
    rows, total = await service.notifications_of(
        db, principal.user.id, unread_only=unread, offset=paging.offset, limit=paging.limit
    )
    return success([notification_out(n) for n in rows], meta=paging.meta(total))


@router.post(
    "/notifications/{notification_id}/read", summary="Mark one as read", responses=error_responses(401, 404)
)
async def mark_read(notification_id: uuid.UUID, principal: CurrentUser, db: DbSession) -> JSONResponse:
    notification = await service.mark_read(db, principal.user.id, notification_id)
    if notification is None:
        raise NotFound("no such notification")
    return success(notification_out(notification))


@router.post("/notifications/read-all", summary="Mark all as read", responses=error_responses(401))
async def mark_all_read(principal: CurrentUser, db: DbSession) -> JSONResponse:
    return success({"marked": await service.mark_all_read(db, principal.user.id)})


@router.post(
    "/notifications/test",
    status_code=201,
    summary="Send yourself a test notification",
    responses=error_responses(401, 429),
)
async def send_test(principal: CurrentUser, db: DbSession, clients: Clients) -> JSONResponse:
    notification = await service.notify(
        db,
        clients.redis,
        principal.user.id,
        kind="test",
        title="Test notification",
        body=f"sent by {clients.settings.app.instance}",
        data={"instance": clients.settings.app.instance},
    )
    return success(notification_out(notification), status_code=201)
