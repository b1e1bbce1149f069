"""The last successful backup, recorded where the health check and the metrics read it.

The backup command writes it twice: ``last_success.json`` in the backup directory (the health check
reads it without needing Redis) and a Redis key (every API instance's metrics sampler reads it, so a
Prometheus alert on backup age works with no file shared between hosts).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neurmatic.settings import RedisSettings

log = logging.getLogger("neurmatic.backup")

REDIS_KEY = "neurmatic:backup:last_success"
# The last failed attempt (Unix time and the error's kind): newer than the last success, it alerts.
FAILURE_REDIS_KEY = "neurmatic:backup:last_failure"
# The last good physical (pgBackRest) backup's end, Unix time: a backup too, for the age the metrics export.
PHYSICAL_REDIS_KEY = "neurmatic:backup:last_physical_success"
FILE_NAME = "last_success.json"


@dataclass(frozen=True)
class BackupStatus:
    finished_at: str  # ISO 8601, UTC
    file: str
    size: int
    sha256: str
    duration_seconds: float
    verified: bool  # restored into a scratch database and compared with the manifest
    s3: str | None = None

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.finished_at).timestamp()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> BackupStatus:
        return cls(**json.loads(text))

    @classmethod
    def read(cls, directory: Path) -> BackupStatus | None:
        """The record in ``directory``, or None when there is none (or it cannot be read)."""
        try:
            return cls.from_json((directory / FILE_NAME).read_text())
        except (OSError, ValueError, TypeError):
            return None


def tell_metrics(redis: RedisSettings | None, key: str, value: str) -> str | None:
    """Set ``key`` on the Redis master for the metrics; a warning (None: done) when Redis cannot take it,
    never an error: what it records has happened either way."""
    if redis is None:
        return None
    from neurmatic.adapters.redis import sync_master  # redis-py: only where a record is written

    try:
        client = sync_master(redis)
        try:
            client.set(key, value)
        finally:
            client.close()
    except Exception as exc:
        log.warning("backup status not recorded in Redis", extra={"error": type(exc).__name__})
        return f"the metrics were not told (Redis: {type(exc).__name__})"
    return None


def record_physical_success(stopped: datetime, redis: RedisSettings | None) -> str | None:
    """A physical backup consistent at ``stopped``: newer than what is recorded, it is the last success."""
    return tell_metrics(redis, PHYSICAL_REDIS_KEY, json.dumps({"at": stopped.timestamp()}))
