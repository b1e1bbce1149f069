"""``neurmatic worker``: connect to Redis (through Sentinel), announce itself, wait for jobs.

The loop blocks on the queue with a timeout so it can refresh its heartbeat and notice SIGTERM; a Redis
failover or outage is waited out with backoff instead of crashing the process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from types import FrameType

import redis

from neurmatic.adapters.redis import sync_master
from neurmatic.settings import Settings
from neurmatic.worker.heartbeat import (
    DEFAULT_QUEUE_KEY,
    HEARTBEAT_INTERVAL_SECONDS,
    HEARTBEAT_TTL_SECONDS,
    heartbeat_key,
)

log = logging.getLogger("neurmatic.worker")


class Worker:
    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self.stopping = False
        self.client = sync_master(settings.redis)

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        self.stopping = True

    def beat(self) -> None:
        payload = json.dumps({"pid": os.getpid(), "at": time.time()})
        self.client.set(heartbeat_key(self.name), payload, ex=HEARTBEAT_TTL_SECONDS)
        if self.settings.app.worker_heartbeat_file is not None:
            self.settings.app.worker_heartbeat_file.touch()

    def handle(self, raw: bytes | str) -> None:
        # No job types are registered yet (they come with the queues of the jobs issue).
        log.warning("job ignored: no handler registered yet", extra={"bytes": len(raw)})

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        log.info("worker started", extra={"worker": self.name, "queue": DEFAULT_QUEUE_KEY})
        backoff = 0.5
        last_beat = 0.0
        while not self.stopping:
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_INTERVAL_SECONDS:
                    self.beat()
                    last_beat = time.monotonic()
                item = self.client.blpop([DEFAULT_QUEUE_KEY], timeout=1)
                if item is not None:
                    self.handle(item[1])
                backoff = 0.5
            except redis.RedisError as exc:
                log.warning(
                    "redis unavailable, retrying", extra={"error": type(exc).__name__, "in_s": backoff}
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                last_beat = 0.0
        with contextlib.suppress(redis.RedisError):
            self.client.delete(heartbeat_key(self.name))
        log.info("worker stopped", extra={"worker": self.name})
