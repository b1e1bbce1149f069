"""/api/v1/notifications: list, mark read, send yourself a test (the /api/v1/ws WebSocket is socket.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, update

from neurmatic.api.deps import Clients, CurrentUser, DbSession
from neurmatic.api.pagination import Page
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.notifications.models import Notification
from neurmatic.domain.notifications.service import notification_out, notify
from neurmatic.errors import NotFound

router = APIRouter(tags=["notifications"])


@router.get("/notifications", summary="My notifications, newest first", responses=error_responses(401, 422))
async def list_notifications(
    principal: CurrentUser,
    db: DbSession,
    paging: Page,
    unread: bool = False,
) -> JSONResponse:
    query = select(Notification).where(Notification.user_id == principal.user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await db.scalars(
            query.order_by(Notification.created_at.desc()).offset(paging.offset).limit(paging.limit)
        )
    ).all()
    return success([notification_out(n) for n in rows], meta=paging.meta(total))


@router.post(
    "/notifications/{notification_id}/read", summary="Mark one as read", responses=error_responses(401, 404)
)
async def mark_read(notification_id: uuid.UUID, principal: CurrentUser, db: DbSession) -> JSONResponse:
    notification = await db.get(Notification, notification_id)
    if notification is None or notification.user_id != principal.user.id:
        raise NotFound("no such notification")
    notification.read_at = notification.read_at or datetime.now(UTC)
    await db.commit()
    return success(notification_out(notification))


@router.post("/notifications/read-all", summary="Mark all as read", responses=error_responses(401))
async def mark_all_read(principal: CurrentUser, db: DbSession) -> JSONResponse:
    result = await db.execute(
        update(Notification)
        .where(Notification.user_id == principal.user.id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )
    await db.commit()
    return success({"marked": getattr(result, "rowcount", 0)})


@router.post(
    "/notifications/test",
    status_code=201,
    summary="Send yourself a test notification",
    responses=error_responses(401, 429),
)
async def send_test(principal: CurrentUser, db: DbSession, clients: Clients) -> JSONResponse:
    notification = await notify(
        db,
        clients.redis,
        principal.user.id,
        kind="test",
        title="Test notification",
        body=f"sent by {clients.settings.app.instance}",
        data={"instance": clients.settings.app.instance},
    )
    return success(notification_out(notification), status_code=201)
