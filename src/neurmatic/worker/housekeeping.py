"""The worker's background thread: its heartbeat, and moving due retries back onto their queues.

Both run in a thread of the worker process rather than in RQ's own forked scheduler process: a fork
outlives a SIGKILLed worker (nothing would stop it, and it would keep the scheduler locks), while a
thread dies with its process. The scheduler part uses RQ's locks, on a short lease (scheduler.py), so
with several workers only one moves scheduled jobs at a time, and a dead one's role passes on in seconds.

The thread must outlive any failure of a tick: if it ended, the process would look alive while nothing
is scheduled and its heartbeat lapses. A Redis error waits for the next tick; anything else is logged
(with its traceback, once per kind of error) and waits for the next tick too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis
from rq import Queue, Retry

from neurmatic.adapters.redis import sync_master
from neurmatic.domain.heartbeat import HEARTBEAT_INTERVAL_SECONDS, HEARTBEAT_TTL_SECONDS, heartbeat_key
from neurmatic.domain.jobs import FAILED_JOB_TTL_SECONDS
from neurmatic.settings import Settings
from neurmatic.worker.cron import CronJob, CronTicker, cron_job_id
from neurmatic.worker.scheduler import LeasedScheduler

if TYPE_CHECKING:
    from neurmatic.worker.metrics import WorkerMetrics

log = logging.getLogger("neurmatic.worker")
TICK_SECONDS = 1.0  # how often due retries are moved (their intervals start at 2 s) and locks renewed


class Housekeeper(threading.Thread):
    def __init__(
        self, settings: Settings, name: str, queues: Sequence[str], metrics: WorkerMetrics | None = None
    ) -> None:
        super().__init__(name=f"{name}-housekeeping", daemon=True)
        self.settings = settings
        self.metrics = metrics
        self.worker_name = name
        self.queues = set(queues)
        # Its own client: the worker's connection is shared with the forked job processes.
        self.client = sync_master(settings.redis)
        self.scheduler = LeasedScheduler(list(queues), connection=self.client, interval=int(TICK_SECONDS))
        self.stopping = threading.Event()
        self._last_beat = 0.0
        self._failing = False
        self._unexpected: set[str] = set()  # kinds of non-Redis errors already logged with a traceback
        self.cron = CronTicker(self.client, self._enqueue_cron_job, name)

    def _enqueue_cron_job(self, job: CronJob, occurrence: str) -> None:
        Queue(job.queue.value, connection=self.client).enqueue(
            job.function,
            job_id=cron_job_id(occurrence),
            job_timeout=job.timeout_seconds,
            retry=Retry(max=3, interval=[10, 60, 300]),
            failure_ttl=FAILED_JOB_TTL_SECONDS,
            description=f"cron {occurrence}",
        )

    def beat(self) -> None:
        """Announce this worker for ``HEARTBEAT_TTL_SECONDS``; touch the heartbeat file for containers."""
        payload = json.dumps({"pid": os.getpid(), "at": time.time()})
        self.client.set(heartbeat_key(self.worker_name), payload, ex=HEARTBEAT_TTL_SECONDS)
        if self.settings.app.worker_heartbeat_file is not None:
            self.settings.app.worker_heartbeat_file.touch()
        self._last_beat = time.monotonic()
        if self.metrics is not None:
            self.metrics.heartbeat.set(time.time())

    def schedule(self) -> None:
        """Take or renew the scheduler locks that are free or ours, and move every due job of the queues
        held onto its queue."""
        if self.scheduler.acquire_locks():
            self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]

    def tick(self) -> None:
        if time.monotonic() - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
            self.beat()
        self.schedule()
        self.cron.tick()

    def run(self) -> None:
        while not self.stopping.wait(TICK_SECONDS):
            try:
                self.tick()
                if self._failing:
                    log.info("redis reachable again; heartbeat resumed")
                self._failing = False
            except redis.RedisError as exc:
                if not self._failing:  # once per outage, not once per second
                    log.warning("heartbeat failed: redis unavailable", extra={"error": type(exc).__name__})
                self._failing = True
                self._last_beat = 0.0
            except Exception as exc:  # a bug, or a library's error mid-failover: never end the thread
                kind = type(exc).__name__
                if kind not in self._unexpected:
                    self._unexpected.add(kind)
                    log.exception("housekeeping tick failed", extra={"error": kind})
                self._last_beat = 0.0

    def stop(self) -> None:
        """Stop the thread, give up the scheduler locks, and withdraw the heartbeat."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        with contextlib.suppress(redis.RedisError):
            if self.scheduler.acquired_locks:
                self.scheduler.release_locks()  # type: ignore[no-untyped-call]
                self.scheduler.register_death()
            self.client.delete(heartbeat_key(self.worker_name))
        self.client.close()
