"""What every article write records in Redis, so reads never go back in time and caches forget.

After a write commits, the primary's WAL position is kept (the highest one seen) and, when the public
could see what changed, the cache version is bumped, atomically. The API's read side
(``neurmatic.api.articles.cache``) reads these keys: it reads from the standby only once the standby has
replayed that position, and caches under the version, so a bump makes every cached read unreachable.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

VERSION_KEY = "neurmatic:cache:articles:version"
WRITE_POSITION_KEY = "neurmatic:cache:articles:write_lsn"
# Article pages also embed this one: the views flush (every minute) forgets them, not the lists. A cached
# page adds the pending views to the count it was cached with; after a flush moved those views into the
# database, it would show fewer. Lists carry the sum as it was when cached, which stays true.
VIEWS_VERSION_KEY = "neurmatic:cache:articles:views_version"

# Keep the highest write position (two writers may finish out of order) and bump the version, atomically.
_RECORD_WRITE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
if ARGV[2] == '1' then return redis.call('INCR', KEYS[2]) end
return tonumber(redis.call('GET', KEYS[2]) or '0')
"""
PRIMARY_POSITION_SQL = text("SELECT (pg_current_wal_lsn() - '0/0')::bigint")


async def primary_position(session: AsyncSession) -> int:
    """The primary's WAL position now (after a commit: at or past that commit)."""
    return int(await session.scalar(PRIMARY_POSITION_SQL) or 0)


async def record_write(redis: aioredis.Redis, session: AsyncSession, *, public: bool = True) -> None:
    """After an article write committed on ``session``: readers need its WAL position replayed, and,
    when the public could see what changed (``public``), every cached read is forgotten.

    A draft written or edited (never published before or after) changes nothing an anonymous reader
    can see, and only anonymous reads are cached: bumping the version for it emptied the whole cache
    each time someone saved a draft."""
    position = await primary_position(session)
    flag = "1" if public else "0"
    await redis.eval(_RECORD_WRITE, 2, WRITE_POSITION_KEY, VERSION_KEY, position, flag)


async def record_views_flushed(redis: aioredis.Redis, session: AsyncSession) -> None:
    """After the views flush committed on ``session``: its WAL position for readers, and cached article
    pages forgotten (their counts would go back); lists stay."""
    await record_write(redis, session, public=False)
    await redis.incr(VIEWS_VERSION_KEY)
