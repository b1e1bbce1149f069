"""The jobs the cron schedules run (in the worker's forked job process, which has the worker's settings)."""

from __future__ import annotations

import asyncio
import logging

from neurmatic.adapters.redis import async_master
from neurmatic.db.engines import Database
from neurmatic.domain.articles.service import publish_and_announce
from neurmatic.domain.articles.views import flush_views
from neurmatic.domain.sessions.store import prune_session_index
from neurmatic.domain.users.one_time import purge_spent_tokens
from neurmatic.settings import Settings

log = logging.getLogger("neurmatic.worker.jobs")
_settings: Settings | None = None


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
    try:
        async with db.session() as session:
            tokens = await purge_spent_tokens(session)
        return {"tokens": tokens, "sessionEntries": await prune_session_index(redis)}
    finally:
        await redis.aclose()
        await db.close()


def cleanup_expired() -> dict[str, int]:
    outcome = asyncio.run(_cleanup())
    log.info("expired data cleaned up", extra=outcome)
    return outcome
