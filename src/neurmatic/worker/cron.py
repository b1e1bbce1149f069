"""Cron jobs that run once across the cluster, however many workers run.

Every worker's housekeeping thread looks, once a minute, at which schedules are due in that minute. For
each due occurrence it tries ``SET neurmatic:cron:<name>:<minute> NX``: the key names the occurrence, so
exactly one worker wins and enqueues the job (with the occurrence in its job id, so even a retried
enqueue cannot run it twice). A worker that was down for a few minutes catches up on what it missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from neurmatic.domain.jobs import QueueName

log = logging.getLogger("neurmatic.worker.cron")
CLAIM_PREFIX = "neurmatic:cron:"
CLAIM_TTL_SECONDS = 2 * 86400
CATCH_UP_MINUTES = 5


@dataclass(frozen=True)
class CronJob:
    name: str
    queue: QueueName
    function: str  # dotted path RQ imports in the worker
    every_minutes: int | None = None
    daily_at: tuple[int, int] | None = None  # (hour, minute) UTC
    # A run that hangs (a database or Redis that stopped answering mid-failover) is killed by RQ rather
    # than holding the worker's only job slot: an every-minute job must finish well within its minute.
    timeout_seconds: int = 50

    def due(self, minute: datetime) -> bool:
        if self.daily_at is not None:
            return (minute.hour, minute.minute) == self.daily_at
        minutes_since_epoch = int(minute.timestamp() // 60)
        return self.every_minutes is not None and minutes_since_epoch % self.every_minutes == 0


CRON_JOBS: tuple[CronJob, ...] = (
    CronJob(
        "publish-scheduled-articles",
        QueueName.SCHEDULING,
        "neurmatic.worker.jobs.publish_scheduled_articles",
        every_minutes=1,
    ),
    CronJob(
        "flush-article-views",
        QueueName.ANALYTICS,
        "neurmatic.worker.jobs.flush_article_views",
        every_minutes=1,
    ),
    CronJob(
        "cleanup-expired",
        QueueName.MAINTENANCE,
        "neurmatic.worker.jobs.cleanup_expired",
        daily_at=(2, 0),
        timeout_seconds=600,
    ),
)

Enqueue = Callable[[CronJob, str], None]


def occurrence_id(job: CronJob, minute: datetime) -> str:
    return f"{job.name}:{minute.strftime('%Y%m%dT%H%M')}"


def cron_job_id(occurrence: str) -> str:
    """RQ job ids allow letters, digits, '-' and '_' only."""
    return "cron_" + occurrence.replace(":", "_")


def claim_and_enqueue(
    client: redis.Redis,
    minute: datetime,
    enqueue: Enqueue,
    worker: str,
    jobs: tuple[CronJob, ...] = CRON_JOBS,
) -> list[str]:
    """Enqueue every job due in ``minute`` that no other worker claimed first; the claimed ids."""
    claimed = []
    for job in jobs:
        if not job.due(minute):
            continue
        occurrence = occurrence_id(job, minute)
        if client.set(f"{CLAIM_PREFIX}{occurrence}", worker, nx=True, ex=CLAIM_TTL_SECONDS):
            enqueue(job, occurrence)
            claimed.append(occurrence)
            log.info("cron job enqueued", extra={"job": job.name, "occurrence": occurrence, "by": worker})
    return claimed


class CronTicker:
    """Remembers the last minute it looked at, so each minute is considered once per worker."""

    def __init__(self, client: redis.Redis, enqueue: Enqueue, worker: str) -> None:
        self.client, self.enqueue, self.worker = client, enqueue, worker
        self.last: datetime | None = None

    def tick(self, now: datetime | None = None) -> list[str]:
        current = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        start = (
            current
            if self.last is None
            else max(self.last + timedelta(minutes=1), current - timedelta(minutes=CATCH_UP_MINUTES))
        )
        claimed: list[str] = []
        minute = start
        while minute <= current:
            claimed += claim_and_enqueue(self.client, minute, self.enqueue, self.worker)
            minute += timedelta(minutes=1)
        self.last = current
        return claimed
