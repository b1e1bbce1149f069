"""Raise a notification: store it, then publish it on the user's Redis channel so whichever API instance
holds the user's WebSocket delivers it."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
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
