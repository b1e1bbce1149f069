"""``neurmatic worker``: an RQ worker on every queue, through Sentinel, with the heartbeat contract.

RQ forks one child per job (a crashing or leaking job cannot take the worker down) and does a warm
shutdown on SIGTERM: the job in progress finishes, then the worker exits (the supervisor waits 30 s).

The process rides through a Redis outage (a Sentinel failover): RQ's loop quits on a Redis error met
outside its dequeue wait (after a job, on a heartbeat), and even creating an RQ worker talks to Redis
(``CLIENT SETNAME``). So each RQ worker's whole life, creation included, is one guarded attempt: a lost
Redis ends it, and a new one starts after a short backoff (reset once a worker got registered), as
long as no stop was requested. Dying instead would cost the scheduling too (see housekeeping.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import uuid
from types import FrameType
from typing import TYPE_CHECKING, Any

import redis
from redis.sentinel import SentinelManagedConnection
from rq import SimpleWorker
from rq import Worker as ForkingWorker
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers
from rq.worker.base import BaseWorker

from neurmatic.adapters.redis import sync_master
from neurmatic.domain.jobs import ALL_QUEUES, JOB_OUTCOMES_KEY
from neurmatic.mail.transports import transport_for
from neurmatic.settings import Settings
from neurmatic.worker import jobs, tasks
from neurmatic.worker.housekeeping import Housekeeper

if TYPE_CHECKING:
    from neurmatic.worker.metrics import WorkerMetrics

log = logging.getLogger("neurmatic.worker")
WORKER_TTL_SECONDS = 35  # RQ blocks on the queues for ttl - 15 = 20 s between its own heartbeats
BLOCKING_SOCKET_TIMEOUT = 35.0  # must outlast that blocking wait
FIRST_RESTART_BACKOFF_SECONDS = 0.5
MAX_RESTART_BACKOFF_SECONDS = 4.0  # a Sentinel failover takes ~5 s: retry within seconds of its end
RECONNECT_WAIT_SECONDS = 2.0  # RQ's own retries while waiting for jobs double up to 60 s otherwise


class _SafeFailureLog(BaseWorker):
    """RQ's failure log line carries the job's arguments; ours carries the job id and the error only
    (a mail job's arguments hold a one-time link)."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        error = exc_info[1] if len(exc_info) > 1 else None
        log.error(
            "job failed",
            extra={
                "job_id": job.id,
                "queue": job.origin,
                "description": job.description,
                "error": type(error).__name__,
                "reason": getattr(error, "message", None) or "see the job's traceback in the failed jobs",
                "retries_left": job.retries_left or 0,
            },
        )
        call_exception_handlers(self._exc_handlers, job, *exc_info)


class _CountedOutcomes(BaseWorker):
    """Counts each job's outcome per queue in Redis, where every API instance's metrics read them."""

    def _count(self, job: Job, outcome: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.connection.hincrby(JOB_OUTCOMES_KEY, f"{job.origin}:{outcome}", 1)

    def handle_job_success(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().handle_job_success(job, queue, *args, **kwargs)
        self._count(job, "succeeded")

    def handle_job_failure(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> None:
        super().handle_job_failure(job, queue, *args, **kwargs)
        self._count(job, "failed")


class _PromptReconnect(BaseWorker):
    """RQ retries a lost connection while it waits for jobs with a doubling pause (1, 2, 4 … 60 s):
    after a failover of a few seconds it would sleep on long after Redis is back."""

    max_connection_wait_time = RECONNECT_WAIT_SECONDS


class QueueWorker(_PromptReconnect, _CountedOutcomes, _SafeFailureLog, ForkingWorker):
    """The production worker: a forked child per job."""

    stop_requested = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class InlineWorker(_PromptReconnect, _CountedOutcomes, _SafeFailureLog, SimpleWorker):
    """Runs jobs in its own process (tests, debugging): same queues, same failure handling."""


class _SentinelConnection(SentinelManagedConnection):
    """redis-py's blocking Sentinel connection keeps its socket when a read is interrupted (its
    ``disconnect_on_error`` defaults to False, unlike every other connection class). RQ's warm shutdown
    interrupts the blocking BLPOP with an exception; the pending reply would then answer the worker's
    next command (it waited out the BLPOP and failed with a ResponseError). Drop the socket instead."""

    def read_response(self, *args: Any, disconnect_on_error: bool | None = True, **kwargs: Any) -> Any:
        return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)


def queue_connection(settings: Settings) -> redis.Redis:
    """The worker's Redis client: the master through Sentinel, with a socket timeout longer than RQ's
    blocking wait (the 2 s the API uses would cut every wait short)."""
    client = sync_master(settings.redis)
    pool = client.connection_pool
    pool.connection_kwargs["socket_timeout"] = BLOCKING_SOCKET_TIMEOUT
    if pool.connection_class is SentinelManagedConnection:
        pool.connection_class = _SentinelConnection
    return client


class Worker:
    """The ``neurmatic worker`` process."""

    def __init__(self, settings: Settings, name: str, metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.name = name
        self.metrics = metrics
        # Chosen now so a production worker without a mail transport refuses to start (ConfigurationError).
        tasks.use_transport(transport_for(settings))
        jobs.use_settings(settings)
        self.stop = threading.Event()

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        self.stop.set()

    def _install_signal_handlers(self) -> None:
        # RQ installs its own while it works; these cover start-up and the pauses between restarts.
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)

    def run(self) -> None:
        self._install_signal_handlers()
        housekeeper = Housekeeper(self.settings, self.name, ALL_QUEUES, self.metrics)
        try:
            housekeeper.beat()
        except redis.RedisError as exc:
            log.warning("redis unavailable at start", extra={"error": type(exc).__name__})
        housekeeper.start()
        connection = queue_connection(self.settings)
        log.info("worker started", extra={"worker": self.name, "queues": list(ALL_QUEUES)})
        backoff = FIRST_RESTART_BACKOFF_SECONDS
        try:
            while not self.stop.is_set():
                worker = self._work_once(connection)
                if self.stop.is_set() or (worker is not None and worker.stop_requested):
                    break
                if worker is not None and worker.birth_date is not None:
                    backoff = FIRST_RESTART_BACKOFF_SECONDS  # it got registered: this is a new outage
                log.warning("worker loop ended unexpectedly; restarting", extra={"in_s": backoff})
                if self.metrics is not None:
                    self.metrics.restarts.inc()
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_RESTART_BACKOFF_SECONDS)
        finally:
            housekeeper.stop()
            connection.close()
        log.info("worker stopped", extra={"worker": self.name})

    def _work_once(self, connection: redis.Redis) -> QueueWorker | None:
        """One RQ worker, from its creation to the end of its loop (None: it could not be created)."""
        worker: QueueWorker | None = None
        try:
            worker = QueueWorker(
                list(ALL_QUEUES),
                name=f"{self.name}.{uuid.uuid4().hex[:8]}",  # RQ refuses a name a dead worker still holds
                connection=connection,
                worker_ttl=WORKER_TTL_SECONDS,
                log_job_description=False,
            )
            if self.stop.is_set():  # asked to stop while it was being created (our handler, not RQ's)
                return worker
            worker.work(logging_level=self.settings.app.log_level.upper())
        except redis.RedisError as exc:
            log.warning("worker lost redis", extra={"error": type(exc).__name__})
        finally:
            if worker is not None:
                _stop_listening(worker)
            self._install_signal_handlers()
        return worker


def _stop_listening(worker: BaseWorker) -> None:
    """End the RQ worker's command-channel thread. RQ does it in its teardown, but only after
    registering the worker's death, which fails while Redis is away: the thread would live on,
    retrying every 2 s, one more for every restart."""
    thread = worker.pubsub_thread
    if thread is not None and thread.is_alive():
        thread.stop()
        thread.join(timeout=1)
