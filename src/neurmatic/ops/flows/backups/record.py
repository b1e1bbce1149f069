"""Record the last good backup for the health check (a file) and the metrics (a Redis key)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from neurmatic.backup_status import FAILURE_REDIS_KEY, FILE_NAME, REDIS_KEY, BackupStatus, tell_metrics
from neurmatic.ops.flows.backups.files import write_atomically
from neurmatic.settings import RedisSettings

log = logging.getLogger("neurmatic.backup")


def record_success(status: BackupStatus, directory: Path, redis: RedisSettings | None) -> str | None:
    """Write the record; a warning (not a failure) when Redis cannot take it: the backup itself is good."""
    write_atomically(directory / FILE_NAME, (status.to_json() + "\n").encode())
    return tell_metrics(redis, REDIS_KEY, status.to_json())


def record_failure(error: BaseException, redis: RedisSettings | None) -> str | None:
    """Tell the metrics a backup attempt failed (the BackupFailed alert); a warning when Redis cannot."""
    record = json.dumps({"at": time.time(), "error": type(error).__name__})
    return tell_metrics(redis, FAILURE_REDIS_KEY, record)
