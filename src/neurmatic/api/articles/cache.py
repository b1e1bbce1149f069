"""Anonymous article reads cached in Redis and invalidated on every write, plus read-your-writes.

Invalidation is by version: every key embeds the current version number, and a write increments it, so
all cached lists and details become unreachable at once (they then expire on their own). nginx must not
keep its own copy (it cannot be purged), so these responses say ``Cache-Control: no-cache`` to the edge.

Read-your-writes: reads normally go to the standby; for a short while after a user writes (as long as the
standby may lag before it is taken out of rotation), that user's reads go to the primary.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("neurmatic.articles.cache")
VERSION_KEY = "neurmatic:cache:articles:version"
ENTRY_PREFIX = "neurmatic:cache:articles:"
RECENT_WRITER_PREFIX = "neurmatic:ryw:"
TTL_SECONDS = 30


class ArticleCache:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def _key(self, request_key: str) -> str:
        version = await self.redis.get(VERSION_KEY)
        digest = hashlib.sha256(request_key.encode()).hexdigest()[:32]
        return f"{ENTRY_PREFIX}{int(version or 0)}:{digest}"

    async def get(self, request_key: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(await self._key(request_key))
        except RedisError:
            return None
        return json.loads(raw) if raw else None

    async def put(self, request_key: str, body: dict[str, Any]) -> None:
        try:
            await self.redis.set(await self._key(request_key), json.dumps(body), ex=TTL_SECONDS)
        except RedisError:
            log.warning("article cache unavailable")

    async def invalidate(self) -> None:
        await self.redis.incr(VERSION_KEY)

    async def mark_writer(self, user_id: str, seconds: int) -> None:
        await self.redis.set(f"{RECENT_WRITER_PREFIX}{user_id}", "1", ex=max(1, seconds))

    async def wrote_recently(self, user_id: str) -> bool:
        try:
            return bool(await self.redis.exists(f"{RECENT_WRITER_PREFIX}{user_id}"))
        except RedisError:
            return True  # when unsure, read from the primary
