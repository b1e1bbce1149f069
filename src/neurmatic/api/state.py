"""The clients one API instance opens at start and closes at shutdown (kept on ``app.state``)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from starlette.requests import HTTPConnection

from neurmatic.adapters.redis import Command, async_master, async_sentinel
from neurmatic.adapters.redis_pipe import PipelinedRedis, pipelined_master
from neurmatic.api.articles.cache import ArticleCache
from neurmatic.api.auth.tokens import TokenCodec
from neurmatic.api.security.rate_limit import RateLimiter
from neurmatic.db.engines import Database
from neurmatic.domain.sessions.store import SessionStore
from neurmatic.settings import Settings


@dataclass
class AppClients:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    sentinel: Sentinel | None
    pipe: PipelinedRedis | None  # the hot path's scripts (rate limit, cached reads): adapters/redis_pipe
    tokens: TokenCodec
    sessions: SessionStore
    limiter: RateLimiter
    csrf_secret: str
    article_cache: ArticleCache
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    async def open(cls, settings: Settings) -> AppClients:
        db = Database(settings.database)
        await db.start()
        sentinel = async_sentinel(settings.redis)
        redis = async_master(settings.redis, sentinel)
        pipe = pipelined_master(settings.redis, sentinel)
        tokens = TokenCodec(settings.auth)
        session_secret = settings.auth.session_secret
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            sentinel=sentinel,
            pipe=pipe,
            tokens=tokens,
            sessions=SessionStore(redis, tokens.refresh_ttl),
            limiter=RateLimiter(redis, pipe),
            csrf_secret=session_secret.get_secret_value() if session_secret else secrets.token_urlsafe(48),
            article_cache=ArticleCache(redis, pipe),
        )

    @property
    def hot(self) -> Command:
        """How the hot path runs a Redis command: on the pipelined connection when there is one."""
        return self.pipe if self.pipe is not None else self.redis.execute_command

    async def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        await self.redis.aclose()
        if self.sentinel is not None:
            for node in self.sentinel.sentinels:
                await node.aclose()
        await self.db.close()


def clients_of(connection: HTTPConnection) -> AppClients:
    clients: AppClients = connection.app.state.clients
    return clients
