"""View counting without a database write per request: counted in a Redis hash, flushed by a job."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.adapters.redis import Command
from neurmatic.domain.articles.freshness import record_views_flushed
from neurmatic.domain.articles.models import Article

PENDING_VIEWS = "neurmatic:article_views"


async def count_view(run: Command, article_id: uuid.UUID) -> int:
    """Count one view; the pending count for the article (0 when Redis cannot answer: views are not
    worth failing a page for). ``run``: a Redis command's runner (``AppClients.hot``)."""
    try:
        return int(await run("HINCRBY", PENDING_VIEWS, str(article_id), 1))
    except RedisError:
        return 0


async def pending_views(run: Command, article_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not article_ids:
        return {}
    try:
        values = await run("HMGET", PENDING_VIEWS, *[str(i) for i in article_ids])
    except RedisError:
        return {}
    return {i: int(v) for i, v in zip(article_ids, values, strict=True) if v is not None}


async def flush_views(redis: aioredis.Redis, db: AsyncSession) -> int:
    """Move the pending counts into ``articles.views``. Each field is taken with HGETDEL semantics
    (read then HINCRBY by the negative amount), so views counted during the flush are never lost."""
    pending = await redis.hgetall(PENDING_VIEWS)
    moved = 0
    for raw_id, raw_count in pending.items():
        count = int(raw_count)
        article_id = uuid.UUID(raw_id.decode() if isinstance(raw_id, bytes) else raw_id)
        await db.execute(update(Article).where(Article.id == article_id).values(views=Article.views + count))
        await db.commit()
        remaining = await redis.hincrby(PENDING_VIEWS, raw_id, -count)
        if int(remaining) <= 0:
            await redis.hdel(PENDING_VIEWS, raw_id)
        moved += count
    if moved:
        await record_views_flushed(redis, db)
    return moved
