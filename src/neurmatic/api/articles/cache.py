"""Anonymous article reads cached in Redis and invalidated on every write; reads that never go back in time.

Invalidation is by version: every key embeds the current version number, and a write increments it, so
all cached lists and details become unreachable at once (they then expire on their own). nginx must not
keep its own copy (it cannot be purged), so these responses say ``Cache-Control: no-cache`` to the edge.

Reads go to the standby only when it has replayed the last article write. Each write records the
primary's WAL position after its commit (the highest one seen, atomically with the version increment:
``neurmatic.domain.articles.freshness``), and a
reader compares it with the standby's replay position: a standby that lags, even by milliseconds, is
passed over for the primary. So no reader, anonymous or not, sees an article come back after it was
deleted, and nothing stale is cached under the new version. The version a request reads *before* it
queries the database is the one it caches under: a result read before a write lands under the old,
unreachable version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from neurmatic.adapters.redis import Batch, LuaScript, redis_py_batch
from neurmatic.adapters.redis_pipe import PipelinedRedis
from neurmatic.api.memo import remembered_when_short
from neurmatic.api.security.rate_limit import Decision, Limit, count_commands, decision_of
from neurmatic.db.engines import on_standby
from neurmatic.domain.articles.freshness import VERSION_KEY, VIEWS_VERSION_KEY, WRITE_POSITION_KEY

log = logging.getLogger("neurmatic.articles.cache")
DETAIL_PREFIX = "detail:"
ENTRY_PREFIX = "neurmatic:cache:articles:"
TTL_SECONDS = 30
CACHED_INPUT_CHARS = 512  # request input longer than this is not kept in the process's lookup caches
_REFUSED_KEPT = 4096  # clients remembered as over the global limit, per process

# An anonymous article page's round trip: the global rate limit's count, the cache view, the cached
# page, and its view counted when there is one (the entry starts with the article's id): a script,
# since what it counts depends on what it read. Over the limit, no body: the 429 wins. The entry's key
# embeds the versions read here, so the body is the one they cached. (The lists' round trip is plain
# commands, five times cheaper for Redis than a script: ``ArticleCache.hit_and_read``.)
_HIT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
local version = redis.call('GET', KEYS[2]) or '0'
local position = redis.call('GET', KEYS[3]) or '0'
local views_version = redis.call('GET', KEYS[4]) or '0'
local key = ARGV[3] .. version .. ':' .. ARGV[4]
if ARGV[5] ~= '' then key = ARGV[3] .. version .. '.' .. views_version .. ':' .. ARGV[4] end
local body = false
if count <= tonumber(ARGV[2]) then body = redis.call('GET', key) end
if body and ARGV[5] ~= '' then
  local views = redis.call('HINCRBY', ARGV[5], string.sub(body, 1, 36), 1)
  return {count, ttl, version, position, views_version, body, views}
end
return {count, ttl, version, position, views_version, body}
"""
LIST_PATH = "/api/v1/articles"
SCOPE_VIEW = "article_cache_view"  # where the front of the app leaves the view it read for the handler
# The standby's replay position, as a number (NULL on a primary).
REPLAY_POSITION_SQL = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
# The highest replay position each pooled standby connection has seen. A standby's replay position
# never goes back while it runs, and a connection stays on one server for its life (a restart, a
# promotion or a rebuild ends it, or ``on_standby`` sees the promotion), so a write that connection
# saw replayed is replayed for every later read on it: asked again only for newer writes. (Asked on
# every read, it was a round trip and a statement for each signed-in list.)
_REPLAYED_ON: weakref.WeakKeyDictionary[asyncpg.Connection, int] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CacheView:
    """What a request saw before it read: the cache version, and the last article write's WAL position."""

    version: int
    write_position: int
    views_version: int = 0


async def replayed(conn: asyncpg.Connection, position: int) -> bool:
    """Whether ``conn`` is on a standby that has replayed ``position``. Asked in a
    statement of its own, before the read: inside the read's statement it would be answered after the
    statement's snapshot was taken."""
    if not on_standby(conn):  # a fallback onto the primary: the caller reads there, named as such
        return False
    if position <= 0 or _REPLAYED_ON.get(conn, -1) >= position:
        return True
    replay_position = await conn.fetchval(REPLAY_POSITION_SQL)
    if replay_position is None:  # promoted since it opened: a primary is never behind itself
        return True
    _REPLAYED_ON[conn] = max(replay_position, _REPLAYED_ON.get(conn, -1))
    return bool(replay_position >= position)


async def has_replayed(session: AsyncSession, position: int) -> bool:
    """Whether the ORM ``session`` of the standby engine is on a standby that has ``replayed`` the
    position (asked before its first statement). A connection on a primary answers no and is dropped:
    the next one opened tries the standby first."""
    connection = await session.connection()
    driver_connection = (await connection.get_raw_connection()).driver_connection
    if not on_standby(driver_connection):
        await connection.invalidate()
        return False
    return await replayed(driver_connection, position)


# A sha256 per cached read was a twentieth of its CPU, and readers repeat queries.
@remembered_when_short(entries=4096, longest=CACHED_INPUT_CHARS)
def _digest(request_key: str) -> str:
    return hashlib.sha256(request_key.encode()).hexdigest()[:32]


def list_key(query_string: bytes) -> str:
    """The cache key of an anonymous list: its raw query (only a query the route answered 200 is cached)."""
    return f"list:{query_string.decode('latin-1')}"


def detail_key(slug: str) -> str:
    return f"{DETAIL_PREFIX}{slug}"


def detail_entry(article_id: uuid.UUID, data: dict[str, Any], base_views: int) -> bytes:
    """An article page as cached: its id first (the cached read counts its view without parsing), then
    the page with the views it had in the database."""
    return f"{article_id}\n".encode() + orjson.dumps({"data": data, "baseViews": base_views})


def detail_article_id(entry: bytes) -> uuid.UUID:
    return uuid.UUID(entry[:36].decode())


def detail_body(entry: bytes, pending_views: int) -> bytes:
    """The answer to a cached article page, its views counted up to now."""
    cached = orjson.loads(entry[37:])
    cached["data"]["views"] = cached["baseViews"] + pending_views
    return orjson.dumps({"success": True, "data": cached["data"]})


def view_from_scope(scope: Scope) -> CacheView | None:
    """The view the front of the app read in its round trip for this request, if it did."""
    view: CacheView | None = scope.get("state", {}).get(SCOPE_VIEW)
    return view


class ArticleCache:
    def __init__(self, redis: aioredis.Redis, pipe: PipelinedRedis | None = None) -> None:
        self.redis = redis
        self._hit_and_read = LuaScript(redis, _HIT_AND_READ, pipe)
        self._batch: Batch = pipe.batch if pipe is not None else redis_py_batch(redis)
        self._version_seen = 0  # the cache version of the last read: the next list read's guess
        self._refused: dict[str, float] = {}  # rate-limit key -> when its window ends, once refused
        self._flights: dict[tuple[int, str], asyncio.Task[tuple[bytes, str]]] = {}

    async def read_through(
        self, view: CacheView, request_key: str, produce: Callable[[], Awaitable[tuple[bytes, str]]]
    ) -> tuple[bytes, str]:
        """``produce()`` (the body and where it was read), cached under ``view``; concurrent misses of
        one key in this process share one ``produce()``. (When an entry expired under load, every
        request in flight missed at once and each ran the same queries: a third of the CPU.) The
        shared read runs as its own task, so a client that goes away does not cancel it for the rest."""
        flight = (view.version, request_key)
        task = self._flights.get(flight)
        if task is None:
            task = asyncio.create_task(self._read_and_keep(view, request_key, produce))
            self._flights[flight] = task
            task.add_done_callback(lambda _: self._flights.pop(flight, None))
        return await asyncio.shield(task)

    async def _read_and_keep(
        self, view: CacheView, request_key: str, produce: Callable[[], Awaitable[tuple[bytes, str]]]
    ) -> tuple[bytes, str]:
        body, source = await produce()
        await self.put(view, request_key, body)
        return body, source

    async def view(self) -> CacheView | None:
        """None when Redis cannot answer: then read from the primary and cache nothing."""
        try:
            version, position, views = await self.redis.mget(
                VERSION_KEY, WRITE_POSITION_KEY, VIEWS_VERSION_KEY
            )
        except RedisError:
            return None
        return CacheView(int(version or 0), int(position or 0), int(views or 0))

    @staticmethod
    def _key(view: CacheView, request_key: str) -> str:
        """As the cached-read script builds it: article pages also embed the views version."""
        if request_key.startswith(DETAIL_PREFIX):
            return f"{ENTRY_PREFIX}{view.version}.{view.views_version}:{_digest(request_key)}"
        return f"{ENTRY_PREFIX}{view.version}:{_digest(request_key)}"

    async def get_raw(self, view: CacheView, request_key: str) -> bytes | None:
        """The cached body as stored (None on a miss, or when Redis cannot answer)."""
        try:
            raw = await self.redis.get(self._key(view, request_key))
        except RedisError:
            return None
        return raw.encode() if isinstance(raw, str) else raw

    async def put(self, view: CacheView, request_key: str, body: dict[str, Any] | bytes) -> None:
        """Keep ``body`` (a JSON body, or its encoded bytes) under ``view``'s version."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        try:
            await self.redis.set(self._key(view, request_key), raw, ex=TTL_SECONDS)
        except RedisError:
            log.warning("article cache unavailable")

    async def hit_and_read(
        self, rate_key: str, limit: Limit, request_key: str, count_view_in: str = ""
    ) -> tuple[Decision, CacheView, bytes | None, int]:
        """Count one request against ``limit`` and read the cached answer to ``request_key``, at once;
        with ``count_view_in`` (the pending-views hash), a hit on an article page also counts a view
        (the last element: the article's pending views). Raises RedisError when Redis cannot answer
        (the caller fails open, as the limiter does)."""
        if count_view_in:
            return await self._page_hit_and_read(rate_key, limit, request_key, count_view_in)
        # A list: read under the version this process saw last, in the same round trip that reads
        # the version; only when a write has moved it since is the entry read again, under the new one.
        # A client this process saw over the limit is not sent the entry it would be refused anyway.
        guessed = self._version_seen
        commands = [
            *count_commands(rate_key, limit),
            ("MGET", VERSION_KEY, WRITE_POSITION_KEY, VIEWS_VERSION_KEY),
        ]
        refused = self._refused.get(rate_key, 0.0) > time.monotonic()
        if not refused:
            commands.append(("GET", self._key(CacheView(guessed, 0), request_key)))
        count, _, ttl_ms, (version, position, views_version), *entry = await self._batch(commands)
        view = CacheView(int(version or 0), int(position or 0), int(views_version or 0))
        decision = decision_of(count, ttl_ms, limit)
        if not decision.allowed:
            self._remember_refused(rate_key, decision)
            return decision, view, None, 0
        body = entry[0] if entry else None
        if view.version != guessed or refused:
            self._version_seen = view.version
            body = await self.get_raw(view, request_key)
        return decision, view, body, 0

    def _remember_refused(self, rate_key: str, decision: Decision) -> None:
        if len(self._refused) >= _REFUSED_KEPT:
            self._refused.clear()  # bounded; forgetting only costs a body read for a refused request
        self._refused[rate_key] = time.monotonic() + decision.reset_seconds

    async def _page_hit_and_read(
        self, rate_key: str, limit: Limit, request_key: str, count_view_in: str
    ) -> tuple[Decision, CacheView, bytes | None, int]:
        count, ttl_ms, version, position, views_version, body, *views = await self._hit_and_read(
            keys=[rate_key, VERSION_KEY, WRITE_POSITION_KEY, VIEWS_VERSION_KEY],
            args=[
                limit.window_seconds * 1000,
                limit.count,
                ENTRY_PREFIX,
                _digest(request_key),
                count_view_in,
            ],
        )
        view = CacheView(int(version), int(position), int(views_version))
        return decision_of(count, ttl_ms, limit), view, body, int(views[0]) if views else 0

    async def hit_and_read_session(
        self, rate_key: str, limit: Limit, session_key: str
    ) -> tuple[Decision, CacheView, Any, Any]:
        """Count one request against ``limit``, and read the cache view and the session's owner and
        last activity, at once (for ``SessionStore.is_active_as_read``). Raises RedisError when Redis
        cannot answer."""
        replies = await self._batch(
            [
                *count_commands(rate_key, limit),
                ("HMGET", session_key, "user_id", "last_active_at"),
                ("MGET", VERSION_KEY, WRITE_POSITION_KEY),
            ]
        )
        count, _, ttl_ms, (owner, last_active), (version, position) = replies
        view = CacheView(int(version or 0), int(position or 0))
        return decision_of(count, ttl_ms, limit), view, owner, last_active
