"""The job-queue contract between the API and the worker: queue names, their Redis keys, how mail is put
on a queue, and the workers' heartbeat keys. Both sides import it from here, so neither imports the other.

A job names its function by import path (:data:`SEND_EMAIL_TASK`), not by the function object: the
enqueuing side then never imports the worker's code, and RQ resolves the path in the worker's process.

A worker listens on every queue in :data:`ALL_QUEUES`, in that order, so mail is never stuck behind
analytics. Failed jobs stay in RQ's ``FailedJobRegistry`` for :data:`FAILED_JOB_TTL_SECONDS`, where an
operator (or rq-dashboard) can inspect and requeue them.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import timedelta

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from neurmatic.adapters.redis import sync_master
from neurmatic.errors import NeurmaticError
from neurmatic.mail.message import MailMessage
from neurmatic.settings import RedisSettings


class QueueName(enum.StrEnum):
    EMAIL = "email"
    NOTIFICATIONS = "notifications"
    ANALYTICS = "analytics"
    SCHEDULING = "scheduling"
    MAINTENANCE = "maintenance"
    DEFAULT = "default"


ALL_QUEUES: tuple[str, ...] = tuple(name.value for name in QueueName)
JOB_OUTCOMES_KEY = "neurmatic:job_outcomes"  # hash "<queue>:<succeeded|failed>" -> count, read by metrics
# 2 s, 10 s, 1 min, 5 min, 15 min: a blip is retried at once, an outage of the provider is waited out
# for about 20 minutes before the job is declared failed.
MAIL_RETRY_INTERVALS = (2, 10, 60, 300, 900)
MAIL_JOB_TIMEOUT_SECONDS = 120  # longer than a slow SMTP dialogue (30 s socket timeout per step)
FAILED_JOB_TTL_SECONDS = int(timedelta(days=30).total_seconds())
SEND_EMAIL_TASK = "neurmatic.worker.tasks.send_email"  # takes MailMessage.as_payload()


class QueueUnavailable(NeurmaticError):
    """The job could not be put on the queue (Redis unreachable or refusing writes)."""


def mail_retry() -> Retry:
    return Retry(max=len(MAIL_RETRY_INTERVALS), interval=list(MAIL_RETRY_INTERVALS))


def enqueue_mail(
    connection: redis.Redis, message: MailMessage, *, queue: str = QueueName.EMAIL, retry: Retry | None = None
) -> Job:
    """Put ``message`` on ``queue`` for the worker's mail task (:data:`SEND_EMAIL_TASK`), with retries.

    The description names the recipient's domain and the subject only: RQ logs and displays it, and the
    message body holds a one-time link.
    """
    return Queue(queue, connection=connection).enqueue(
        SEND_EMAIL_TASK,
        message.as_payload(),
        retry=retry or mail_retry(),
        job_timeout=MAIL_JOB_TIMEOUT_SECONDS,
        failure_ttl=FAILED_JOB_TTL_SECONDS,
        description=f"mail to @{message.recipient_domain}: {message.subject}",
    )


async def submit_mail(settings: RedisSettings, message: MailMessage) -> str:
    """Enqueue ``message`` from async code (RQ is synchronous); the job id.

    A connection per call: mail is rare (sign-ups and resets, each rate limited), and a short-lived
    client needs no lifecycle in the API and always asks Sentinel for the current master.
    """

    def enqueue() -> str:
        connection = sync_master(settings)
        try:
            return enqueue_mail(connection, message).id
        except redis.RedisError as exc:
            raise QueueUnavailable(f"the mail job could not be queued ({type(exc).__name__})") from exc
        finally:
            connection.close()

    return await asyncio.to_thread(enqueue)


@dataclass(frozen=True)
class QueueKeys:
    """The Redis keys RQ keeps for one queue (read by the health check without a sync client)."""

    jobs: str
    failed: str
    scheduled: str

    @classmethod
    def of(cls, name: str) -> QueueKeys:
        return cls(
            jobs=f"{Queue.redis_queue_namespace_prefix}{name}",
            failed=FailedJobRegistry.key_template.format(name),
            scheduled=ScheduledJobRegistry.key_template.format(name),
        )
