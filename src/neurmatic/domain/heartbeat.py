"""The worker's heartbeat in Redis: one expiring key per live worker.

Apart from ``domain/jobs.py`` (which needs redis-py and RQ) because ``neurmatic status`` reads these keys
over its own light RESP probe and must not import those libraries.
"""

from __future__ import annotations

HEARTBEAT_PREFIX = "neurmatic:workers:"  # one key per live worker; the supervisor and /health read them
HEARTBEAT_TTL_SECONDS = 15
HEARTBEAT_INTERVAL_SECONDS = 5


def heartbeat_key(worker_name: str) -> str:
    """The Redis key a live worker named ``worker_name`` refreshes."""
    return f"{HEARTBEAT_PREFIX}{worker_name}"
