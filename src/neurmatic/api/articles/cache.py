"""Anonymous article reads cached in Redis and invalidated on every write; reads that never go back in time.

Invalidation is by version: every key embeds the current version number, and a write increments it, so
all cached lists and details become unreachable at once (they then expire on their own). nginx must not
keep its own copy (it cannot be purged), so these responses say ``Cache-Control: no-cache`` to the edge.

Reads go to the standby only when it has replayed the last article write. Each write records the
primary's WAL position after its commit (the highest one seen, atomically with the version increment), and a
reader compares it with the standby's replay position: a standby that lags, even by milliseconds, is
passed over for the primary. So no reader, anonymous or not, sees an article come back after it was
deleted, and nothing stale is cached under the new version. The version a request reads *before* it
queries the database is the one it caches under: a result read before a write lands under the old,
unreachable version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("neurmatic.articles.cache")
VERSION_KEY = "neurmatic:cache:articles:version"
WRITE_POSITION_KEY = "neurmatic:cache:articles:write_lsn"
ENTRY_PREFIX = "neurmatic:cache:articles:"
TTL_SECONDS = 30

# Keep the highest write position (two writers may finish out of order) and bump the version, atomically.
_RECORD_WRITE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[2])
"""
PRIMARY_POSITION_SQL = text("SELECT (pg_current_wal_lsn() - '0/0')::bigint")
# NULL on a primary (a read session that fell back to it): the primary is never behind itself.
REPLAYED_SQL = text("SELECT coalesce((pg_last_wal_replay_lsn() - '0/0')::bigint >= :position, true)")


@dataclass(frozen=True)
class CacheView:
    """What a request saw before it read: the cache version, and the last article write's WAL position."""

    version: int
    write_position: int


async def primary_position(session: AsyncSession) -> int:
    """The primary's WAL position now (after a commit: at or past that commit)."""
    return int(await session.scalar(PRIMARY_POSITION_SQL) or 0)


async def has_replayed(session: AsyncSession, position: int) -> bool:
    return position <= 0 or bool(await session.scalar(REPLAYED_SQL, {"position": position}))


class ArticleCache:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def view(self) -> CacheView | None:
        """None when Redis cannot answer: then read from the primary and cache nothing."""
        try:
            version, position = await self.redis.mget(VERSION_KEY, WRITE_POSITION_KEY)
        except RedisError:
            return None
        return CacheView(int(version or 0), int(position or 0))

    @staticmethod
    def _key(view: CacheView, request_key: str) -> str:
        digest = hashlib.sha256(request_key.encode()).hexdigest()[:32]
        return f"{ENTRY_PREFIX}{view.version}:{digest}"

    async def get(self, view: CacheView, request_key: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(self._key(view, request_key))
        except RedisError:
            return None
        return json.loads(raw) if raw else None

    async def put(self, view: CacheView, request_key: str, body: dict[str, Any]) -> None:
        try:
            await self.redis.set(self._key(view, request_key), json.dumps(body), ex=TTL_SECONDS)
        except RedisError:
            log.warning("article cache unavailable")

    async def record_write(self, session: AsyncSession) -> None:
        """After an article write committed on ``session``: readers need its WAL position replayed, and
        every cached read is forgotten."""
        position = await primary_position(session)
        await self.redis.eval(_RECORD_WRITE, 2, WRITE_POSITION_KEY, VERSION_KEY, position)
