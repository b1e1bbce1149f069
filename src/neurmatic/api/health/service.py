"""The overall verdict from the components: unhealthy when the primary or Redis is down, degraded when
anything else is, healthy otherwise."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from neurmatic import __version__
from neurmatic.api.health import checks
from neurmatic.api.state import AppClients
from neurmatic.health import Status, verdict

CRITICAL = ("database", "redis")


def overall_status(components: dict[str, dict[str, Any]]) -> str:
    return str(verdict({name: c["status"] for name, c in components.items()}, CRITICAL))


async def health_report(clients: AppClients) -> dict[str, Any]:
    names = ("database", "database_replica", "redis", "sentinel", "queue", "patroni", "wal_archive")
    results = await asyncio.gather(
        checks.timed(lambda: checks.check_primary(clients.db)),
        checks.timed(lambda: checks.check_replica(clients.db)),
        checks.timed(lambda: checks.check_redis(clients.redis)),
        checks.timed(
            lambda: checks.check_sentinels(clients.sentinel, clients.settings.redis.sentinel_master)
        ),
        checks.timed(lambda: checks.check_queue(clients.redis)),
        checks.timed(lambda: checks.check_patroni(clients.settings.operations.patroni_urls)),
        checks.timed(lambda: checks.check_wal_archive(clients.db)),
    )
    components = dict(zip(names, results, strict=True))
    return {
        "status": overall_status(components),
        "version": __version__,
        "uptime": round(time.monotonic() - clients.started_at, 1),
        "instance": clients.settings.app.instance,
        "components": components,
    }


async def is_ready(clients: AppClients) -> tuple[bool, dict[str, Any]]:
    """Ready means: the primary accepts writes and the Redis master answers."""
    database, redis = await asyncio.gather(
        checks.timed(lambda: checks.check_primary(clients.db)),
        checks.timed(lambda: checks.check_redis(clients.redis)),
    )
    ready = database["status"] == Status.UP and redis["status"] == Status.UP
    return ready, {"database": database["status"], "redis": redis["status"]}
