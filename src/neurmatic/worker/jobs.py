"""The jobs the cron schedules run (in the worker's forked job process, which has the worker's settings)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_

from neurmatic.adapters.redis import async_master
from neurmatic.api.articles.service import publish_and_announce
from neurmatic.api.articles.views import flush_views
from neurmatic.api.auth.sessions import SESSION_PREFIX, USER_SESSIONS_PREFIX
from neurmatic.api.users.models import OneTimeToken
from neurmatic.db.engines import Database
from neurmatic.settings import Settings

log = logging.getLogger("neurmatic.worker.jobs")
_settings: Settings | None = None
USED_TOKEN_RETENTION = timedelta(days=7)


def use_settings(settings: Settings) -> None:
    global _settings
    _settings = settings


def _require_settings() -> Settings:
    if _settings is None:
        raise RuntimeError("the worker did not install its settings (start it with `neurmatic worker`)")
    return _settings


async def _publish() -> int:
    settings = _require_settings()
    db, redis = Database(settings.database), async_master(settings.redis)
    try:
        async with db.session() as session:
            published = await publish_and_announce(session, redis)
        return len(published)
    finally:
        await redis.aclose()
        await db.close()


def publish_scheduled_articles() -> int:
    count = asyncio.run(_publish())
    log.info("scheduled articles published", extra={"count": count})
    return count


async def _flush() -> int:
    settings = _require_settings()
    db, redis = Database(settings.database), async_master(settings.redis)
    try:
        async with db.session() as session:
            return await flush_views(redis, session)
    finally:
        await redis.aclose()
        await db.close()


def flush_article_views() -> int:
    moved = asyncio.run(_flush())
    log.info("article views flushed", extra={"views": moved})
    return moved


async def _cleanup() -> dict[str, int]:
    """Expired or long-used one-time tokens, and session index entries whose session expired."""
    settings = _require_settings()
    db, redis = Database(settings.database), async_master(settings.redis)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            result = await session.execute(
                delete(OneTimeToken).where(
                    or_(OneTimeToken.expires_at < now, OneTimeToken.used_at < now - USED_TOKEN_RETENTION)
                )
            )
            await session.commit()
        pruned = 0
        async for key in redis.scan_iter(match=f"{USER_SESSIONS_PREFIX}*", count=500):
            for sid in await redis.smembers(key):
                sid_text = sid.decode() if isinstance(sid, bytes) else sid
                if not await redis.exists(f"{SESSION_PREFIX}{sid_text}"):
                    pruned += int(await redis.srem(key, sid))
        return {"tokens": int(getattr(result, "rowcount", 0) or 0), "sessionEntries": pruned}
    finally:
        await redis.aclose()
        await db.close()


def cleanup_expired() -> dict[str, int]:
    outcome = asyncio.run(_cleanup())
    log.info("expired data cleaned up", extra=outcome)
    return outcome
