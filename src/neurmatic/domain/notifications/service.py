"""Raise a notification: store it, then publish it on the user's Redis channel so whichever API instance
holds the user's WebSocket delivers it. And a user's notifications: listed, marked read."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.notifications.models import Notification

log = logging.getLogger("neurmatic.notifications")
CHANNEL_PREFIX = "neurmatic:notify:"


def channel(user_id: str) -> str:
    return f"{CHANNEL_PREFIX}{user_id}"


def notification_out(n: Notification) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "data": n.data,
        "readAt": n.read_at.isoformat() if n.read_at else None,
        "createdAt": n.created_at.isoformat(),
    }


async def notify(
    db: AsyncSession,
    redis: aioredis.Redis,
    user_id: uuid.UUID,
    *,
    kind: str,
    title: str,
    body: str | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Persist (committed) and publish; a Redis outage loses only the live push, never the notification."""
    notification = Notification(user_id=user_id, kind=kind, title=title, body=body, data=data or {})
    db.add(notification)
    await db.commit()
    await db.refresh(notification)
    try:
        await redis.publish(
            channel(str(user_id)),
            json.dumps({"type": "notification", "notification": notification_out(notification)}),
        )
    except RedisError:
        log.warning("live push failed; the notification is stored", extra={"kind": kind})
    return notification


async def notifications_of(
    db: AsyncSession, user_id: uuid.UUID, *, unread_only: bool, offset: int, limit: int
) -> tuple[list[Notification], int]:
    """One page of the user's notifications, newest first, and how many there are in all."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(Notification.created_at.desc()).offset(offset).limit(limit))
    return list(rows.all()), total


async def mark_read(db: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    """Mark the user's notification read (once: the first time stays) and commit; None when the user has
    no such notification."""
    notification = await db.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        return None
    notification.read_at = notification.read_at or datetime.now(UTC)
    await db.commit()
    return notification


async def mark_all_read(db: AsyncSession, user_id: uuid.UUID) -> int:
    """Mark every unread notification of the user read and commit; how many."""
    result = await db.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )
    await db.commit()
    return int(getattr(result, "rowcount", 0) or 0)
