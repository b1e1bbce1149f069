"""The clients one API instance opens at start and closes at shutdown (kept on ``app.state``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from starlette.requests import HTTPConnection

from neurmatic.adapters.redis import async_master, async_sentinel
from neurmatic.db.engines import Database
from neurmatic.settings import Settings


@dataclass
class AppClients:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    sentinel: Sentinel | None
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    async def open(cls, settings: Settings) -> AppClients:
        db = Database(settings.database)
        await db.start()
        sentinel = async_sentinel(settings.redis)
        return cls(settings, db, async_master(settings.redis, sentinel), sentinel)

    async def close(self) -> None:
        await self.redis.aclose()
        if self.sentinel is not None:
            for node in self.sentinel.sentinels:
                await node.aclose()
        await self.db.close()


def clients_of(connection: HTTPConnection) -> AppClients:
    clients: AppClients = connection.app.state.clients
    return clients
