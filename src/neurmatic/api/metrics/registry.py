"""The metrics one API instance keeps, in a registry of its own (so two apps in one process, as in
tests, never collide). Labels are bounded: the route *template*, never the raw path.

An instance may run several worker processes (``WEB_CONCURRENCY``): each gauge says how the workers'
values combine in a scrape (``multiprocess_mode``, see :mod:`.multiprocess`): what each worker holds of
its own (requests in progress, pooled connections) is summed over the live workers; what every worker
reads from a shared source (Redis, the standby) is the most recent reading of any live worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from neurmatic.api.metrics.multiprocess import forget_this_process, merged_registry, multiprocess_dir

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Set when prometheus_client writes per-process files (the environment decided at its import).
    shared_dir: Path | None = field(default_factory=multiprocess_dir)

    def __post_init__(self) -> None:
        r = self.registry
        if self.shared_dir is None:
            ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, fds
        self.requests = Counter(
            "neurmatic_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "neurmatic_http_request_duration_seconds",
            "Time to answer a request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Counted in a plain int per request (``in_flight``) and published to the gauge by the sampler,
        # every few seconds and at each scrape: two writes to the per-worker metrics file on every
        # request were 4 % of a cached read's CPU.
        self.in_flight = 0
        self.in_progress = Gauge(
            "neurmatic_http_requests_in_progress",
            "Requests being answered (each worker's count at its last sample, taken every few seconds "
            "and at each scrape)",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.errors = Counter(
            "neurmatic_http_server_errors_total", "Responses with a 5xx status", ["route"], registry=r
        )
        self.db_pool_checked_out = Gauge(
            "neurmatic_db_pool_connections_in_use",
            "Pooled connections in use",
            ["engine"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.db_pool_size = Gauge(
            "neurmatic_db_pool_connections_open",
            "Pooled connections open",
            ["engine"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.replica_lag = Gauge(
            "neurmatic_db_replica_lag_seconds",
            "Standby replay lag (-1 unknown)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.redis_up = Gauge(
            "neurmatic_redis_up",
            "1 when the Redis master answered the last ping",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.redis_latency = Gauge(
            "neurmatic_redis_ping_seconds",
            "Latency of the last Redis ping",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.queue_depth = Gauge(
            "neurmatic_queue_depth",
            "Jobs waiting, per queue",
            ["queue"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.queue_failed = Gauge(
            "neurmatic_queue_failed_jobs",
            "Failed jobs kept, per queue",
            ["queue"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.job_outcomes = Gauge(
            "neurmatic_jobs_total",
            "Jobs run by the workers, per queue and outcome",
            ["queue", "outcome"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.workers = Gauge(
            "neurmatic_workers_alive",
            "Workers with a live heartbeat",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.backup_last_success = Gauge(
            "neurmatic_backup_last_success_timestamp_seconds",
            "When the last good backup finished (Unix time; 0 when none is recorded)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.backup_last_failure = Gauge(
            "neurmatic_backup_last_failure_timestamp_seconds",
            "When the last failed backup attempt ended (Unix time; 0 when none is recorded)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.backup_last_size = Gauge(
            "neurmatic_backup_last_size_bytes",
            "Size of the last good backup",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self._wal_archive_gauges(r)

    def _wal_archive_gauges(self, r: CollectorRegistry) -> None:
        """The primary's WAL archiver (``pg_stat_archiver``): what every instance reads alike. Age alone
        cannot tell an idle database from a stuck archiver; alert on it together with pending segments
        (see docs/operations.md)."""
        self.wal_archive_age = Gauge(
            "neurmatic_wal_archive_last_success_age_seconds",
            "Seconds since the primary last archived a WAL segment (-1: none since the statistics "
            "reset, archiving off, or unknown)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.wal_archive_pending = Gauge(
            "neurmatic_wal_archive_pending_segments",
            "Closed WAL segments the primary has not archived yet (-1 unknown)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.wal_archive_failing = Gauge(
            "neurmatic_wal_archive_failing",
            "1 when the archiver's last attempt failed (a failure newer than the last success)",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.wal_archived = Gauge(
            "neurmatic_wal_archive_archived_total",
            "WAL files archived since the archiver's statistics were reset",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.wal_archive_failed = Gauge(
            "neurmatic_wal_archive_failed_total",
            "Failed archive attempts since the archiver's statistics were reset",
            multiprocess_mode="livemostrecent",
            registry=r,
        )

    def process_stopped(self) -> None:
        """This process serves no more: its live gauges leave the instance's sums (several workers)."""
        if self.shared_dir is not None:
            forget_this_process(self.shared_dir)

    def exposition_registry(self) -> CollectorRegistry:
        """What a scrape reads: this registry, or every worker's files merged (several workers)."""
        return self.registry if self.shared_dir is None else merged_registry(self.shared_dir)
