"""The last successful backup, recorded where the health check and the metrics read it.

The backup command writes it twice: ``last_success.json`` in the backup directory (the health check
reads it without needing Redis) and a Redis key (every API instance's metrics sampler reads it, so a
Prometheus alert on backup age works with no file shared between hosts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

REDIS_KEY = "neurmatic:backup:last_success"
# The last failed attempt (Unix time and the error's kind): newer than the last success, it alerts.
FAILURE_REDIS_KEY = "neurmatic:backup:last_failure"
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
