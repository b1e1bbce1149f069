"""The worker's heartbeat in Redis: how the supervisor and the health endpoint know a worker is alive."""

from __future__ import annotations

HEARTBEAT_PREFIX = "neurmatic:workers:"
HEARTBEAT_TTL_SECONDS = 15
HEARTBEAT_INTERVAL_SECONDS = 5


def heartbeat_key(worker_name: str) -> str:
    return f"{HEARTBEAT_PREFIX}{worker_name}"
