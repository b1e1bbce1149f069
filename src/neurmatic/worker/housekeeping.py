"""The worker's background thread: its heartbeat, and moving due retries back onto their queues.

Both run in a thread of the worker process rather than in RQ's own forked scheduler process: a fork
outlives a SIGKILLed worker (nothing would stop it, and it would keep the scheduler locks), while a
thread dies with its process. The scheduler part uses RQ's locks, so with several workers only one
moves scheduled jobs at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence

import redis
from rq import Queue, Retry
from rq.scheduler import RQScheduler

from neurmatic.adapters.redis import sync_master
from neurmatic.settings import Settings
from neurmatic.worker.cron import CronJob, CronTicker, cron_job_id
from neurmatic.worker.heartbeat import HEARTBEAT_INTERVAL_SECONDS, HEARTBEAT_TTL_SECONDS, heartbeat_key
from neurmatic.worker.queues import FAILED_JOB_TTL_SECONDS

log = logging.getLogger("neurmatic.worker")
TICK_SECONDS = 1.0  # how often due retries are moved: their intervals start at 2 s
LOCK_RETRY_SECONDS = 10.0  # a lock left by a killed worker expires after ~1 min; ask again meanwhile


class Housekeeper(threading.Thread):
    def __init__(self, settings: Settings, name: str, queues: Sequence[str]) -> None:
        super().__init__(name=f"{name}-housekeeping", daemon=True)
        self.settings = settings
        self.worker_name = name
        self.queues = set(queues)
        # Its own client: the worker's connection is shared with the forked job processes.
        self.client = sync_master(settings.redis)
        self.scheduler = RQScheduler(list(queues), connection=self.client, interval=int(TICK_SECONDS))
        self.stopping = threading.Event()
        self._last_beat = 0.0
        self._last_lock_attempt = 0.0
        self._failing = False
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

    def schedule(self) -> None:
        """Hold the scheduler locks (when free) and move every due retry back onto its queue."""
        scheduler = self.scheduler
        now = time.monotonic()
        if scheduler.acquired_locks != self.queues and now - self._last_lock_attempt >= LOCK_RETRY_SECONDS:
            self._last_lock_attempt = now
            if scheduler.acquire_locks():  # type: ignore[no-untyped-call]
                scheduler.register_birth()
        if scheduler.acquired_locks:
            scheduler.heartbeat()  # type: ignore[no-untyped-call]
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]

    def run(self) -> None:
        while not self.stopping.wait(TICK_SECONDS):
            try:
                if time.monotonic() - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
                    self.beat()
                self.schedule()
                self.cron.tick()
                if self._failing:
                    log.info("redis reachable again; heartbeat resumed")
                self._failing = False
            except redis.RedisError as exc:
                if not self._failing:  # once per outage, not once per second
                    log.warning("heartbeat failed: redis unavailable", extra={"error": type(exc).__name__})
                self._failing = True
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
