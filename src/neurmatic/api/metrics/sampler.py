"""Gauges that need a round trip (pool, Redis, queues, workers, lag), refreshed in the background every
few seconds rather than on each scrape, so a scrape never waits on a slow dependency; and the WAL
archive's, read at each scrape only (see :func:`sample_wal_archive`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from neurmatic.api.health.checks import CHECK_TIMEOUT_SECONDS, read_archiver
from neurmatic.api.metrics.registry import ApiMetrics
from neurmatic.api.state import AppClients
from neurmatic.backup_status import FAILURE_REDIS_KEY as BACKUP_FAILURE_KEY
from neurmatic.backup_status import PHYSICAL_REDIS_KEY as BACKUP_PHYSICAL_KEY
from neurmatic.backup_status import REDIS_KEY as BACKUP_STATUS_KEY
from neurmatic.backup_status import BackupStatus
from neurmatic.domain.heartbeat import HEARTBEAT_PREFIX
from neurmatic.domain.jobs import ALL_QUEUES, JOB_OUTCOMES_KEY, QueueKeys
from neurmatic.periodic import every

log = logging.getLogger("neurmatic.metrics")
SAMPLE_EVERY_SECONDS = 5.0


async def sample(clients: AppClients, metrics: ApiMetrics) -> None:
    metrics.in_progress.set(metrics.in_flight)
    for name, engine in (("primary", clients.db.primary), ("replica", clients.db.replica)):
        if engine is not None:
            pool = engine.pool
            metrics.db_pool_checked_out.labels(name).set(getattr(pool, "checkedout", lambda: 0)())
            metrics.db_pool_size.labels(name).set(getattr(pool, "size", lambda: 0)())
    lag = clients.db.replica_state.lag_seconds
    metrics.replica_lag.set(lag if lag is not None else -1)
    started = time.perf_counter()
    try:
        await clients.redis.ping()
        metrics.redis_latency.set(time.perf_counter() - started)
        metrics.redis_up.set(1)
        async with clients.redis.pipeline(transaction=False) as pipe:
            for queue in ALL_QUEUES:
                keys = QueueKeys.of(queue)
                pipe.llen(keys.jobs)
                pipe.zcard(keys.failed)
            counts = await pipe.execute()
        for index, queue in enumerate(ALL_QUEUES):
            metrics.queue_depth.labels(queue).set(counts[2 * index])
            metrics.queue_failed.labels(queue).set(counts[2 * index + 1])
        for field_name, count in (await clients.redis.hgetall(JOB_OUTCOMES_KEY)).items():
            queue, _, outcome = (
                field_name.decode() if isinstance(field_name, bytes) else field_name
            ).rpartition(":")
            metrics.job_outcomes.labels(queue, outcome).set(int(count))
        workers = [key async for key in clients.redis.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100)]
        metrics.workers.set(len(workers))
        recorded, physical = await clients.redis.mget(BACKUP_STATUS_KEY, BACKUP_PHYSICAL_KEY)
        last = float(json.loads(physical)["at"]) if physical else 0.0
        if recorded:
            status = BackupStatus.from_json(recorded)
            last = max(last, status.timestamp)
            metrics.backup_last_size.set(status.size)
        # The newest good backup of either kind; never backed up: 0, an age of decades, so BackupTooOld
        # fires (an absent series never would).
        metrics.backup_last_success.set(last)
        failure = await clients.redis.get(BACKUP_FAILURE_KEY)
        if failure:
            metrics.backup_last_failure.set(float(json.loads(failure)["at"]))
    except Exception as exc:  # a sampler must never die: report Redis as down and try again later
        metrics.redis_up.set(0)
        log.debug("metrics sample failed", extra={"error": type(exc).__name__})


async def sample_wal_archive(clients: AppClients, metrics: ApiMetrics) -> None:
    """The primary's archiver, read when a scrape asks (bounded: the scrape waits for it), not by the
    background loop: that loop would query the primary every few seconds from every worker for values
    nobody reads in between, and its cancellation at shutdown could land inside asyncpg's connection
    handshake, which then logs a lost connection. Unknown (-1) when the primary does not answer."""
    try:
        state = await asyncio.wait_for(read_archiver(clients.db), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # the database check reports why; the gauges must not keep a stale age
        metrics.wal_archive_age.set(-1)
        metrics.wal_archive_pending.set(-1)
        log.debug("wal archive sample failed", extra={"error": type(exc).__name__})
        return
    age, pending = state.last_success_age, state.pending_segments
    metrics.wal_archive_age.set(age if age is not None and state.configured else -1)
    metrics.wal_archive_pending.set(pending if pending is not None and state.configured else -1)
    metrics.wal_archive_failing.set(1 if state.configured and state.failing else 0)
    metrics.wal_archived.set(state.archived_count)
    metrics.wal_archive_failed.set(state.failed_count)


async def run_sampler(clients: AppClients, metrics: ApiMetrics) -> None:
    await every(SAMPLE_EVERY_SECONDS, lambda: sample(clients, metrics))
