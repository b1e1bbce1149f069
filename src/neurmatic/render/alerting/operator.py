"""The alerts an operator of this topology needs beyond the guide's table: something down, the database
or Redis losing its redundancy, jobs, backups, the WAL archive, TLS, the front door.

Metric sources: the API's own metrics (``neurmatic_*``, every instance reads the shared values alike, so
they are combined with ``max``/``min``), and the Debian exporters: postgres_exporter 0.11 (``pg_up``,
``pg_stat_replication_pg_wal_lsn_diff``), redis_exporter 1.45
(``redis_up``, ``redis_memory_*``, ``redis_sentinel_master_ok_sentinels``), Patroni's REST API
(``patroni_primary``, ``patroni_postgres_streaming``: which node leads, as the HA engine decided), nginx
exporter 0.11
(``nginx_up``; stub_status counts no status codes, so the 5xx rate is the API's) and blackbox exporter
(``probe_ssl_earliest_cert_expiry``, the certificate the load balancer serves).
"""

from __future__ import annotations

from neurmatic.render.alerting.model import Alert, Group

SENTINEL_QUORUM = 2  # infrastructure/redis/sentinel.conf: `sentinel monitor mymaster … 2`
STANDBY_LAG_BYTES = 64 * 1024**2  # four WAL segments behind
BACKUP_MAX_AGE_HOURS = 26  # a daily backup, with two hours of slack
CERTIFICATE_WARNING_DAYS = 14
CERTIFICATE_CRITICAL_DAYS = 3
QUEUE_DEPTH = 100
SERVER_ERRORS_PER_SECOND = 1
RATE_LIMITED_PER_SECOND = 5
WAL_ARCHIVE_BEHIND_SEGMENTS = 16  # 256 MiB, as the health check's `behind`
WAL_ARCHIVE_FAILURES = 2  # in 15 minutes: more than a passing hiccup


def _alert(name: str, severity: str, expr: str, for_: str, summary: str, runbook: str) -> Alert:
    return Alert(name=name, severity=severity, expr=expr, for_=for_, summary=summary, runbook=runbook)


AVAILABILITY = (
    _alert(
        "TargetDown",
        "critical",
        "up == 0",
        "1m",
        "{{ $labels.instance }} ({{ $labels.job }}) is down: Prometheus cannot scrape it",
        "alert-target-down",
    ),
    _alert(
        "NginxDown",
        "critical",
        "nginx_up == 0",
        "1m",
        "{{ $labels.instance }}: the nginx exporter cannot read nginx's stub_status",
        "alert-target-down",
    ),
    _alert(
        "PostgresDown",
        "critical",
        "pg_up == 0",
        "1m",
        "{{ $labels.instance }}: postgres_exporter cannot reach PostgreSQL",
        "alert-target-down",
    ),
    _alert(
        "RedisDown",
        "critical",
        "redis_up == 0",
        "1m",
        "{{ $labels.instance }}: redis_exporter cannot reach Redis",
        "alert-target-down",
    ),
)

DATABASE = (
    # The roles as Patroni (the HA engine that assigns them) reports them on its REST API's /metrics.
    _alert(
        "PostgresNoPrimary",
        "critical",
        "(max(patroni_primary) or on () vector(0)) < 1",
        "1m",
        "no PostgreSQL server is a primary: writes fail until Patroni promotes one",
        "alert-postgres-primary",
    ),
    _alert(
        "PostgresSeveralPrimaries",
        "critical",
        "sum(patroni_primary) > 1",
        "1m",
        "{{ $value }} PostgreSQL servers are primaries at once",
        "alert-postgres-primary",
    ),
    _alert(
        "PostgresStandbyNotStreaming",
        "critical",
        "max by (instance, name) (patroni_primary == 1)\nunless on () (max(patroni_postgres_streaming) == 1)",
        "2m",
        "{{ $labels.name }}: the primary has no standby streaming from it",
        "alert-postgres-standby",
    ),
    _alert(
        "PostgresStandbyLagging",
        "warning",
        f"max by (instance, application_name) (pg_stat_replication_pg_wal_lsn_diff) > {STANDBY_LAG_BYTES}",
        "5m",
        "{{ $labels.instance }}: standby {{ $labels.application_name }} is"
        " {{ $value | humanize1024 }}B behind (over 64 MiB)",
        "alert-postgres-standby",
    ),
)

ETCD_MEMBERS = 3  # the local topology and compose: etcd-1..3
ETCD_QUORUM = ETCD_MEMBERS // 2 + 1

ETCD = (
    _alert(
        "EtcdNoLeader",
        "critical",
        "max by (instance) (etcd_server_has_leader) == 0",
        "1m",
        "{{ $labels.instance }}: this etcd member sees no leader: Patroni cannot renew its leader key",
        "alert-etcd",
    ),
    _alert(
        "EtcdQuorumLost",
        "critical",
        f'sum(up{{job="etcd"}}) < {ETCD_QUORUM}',
        "1m",
        f"only {{{{ $value }}}} of {ETCD_MEMBERS} etcd members answer (quorum {ETCD_QUORUM}): "
        "no leader key can be held, and Patroni demotes the primary",
        "alert-etcd",
    ),
)

REDIS = (
    _alert(
        "RedisSentinelQuorumLost",
        "critical",
        f"max by (instance, master_name) (redis_sentinel_master_ok_sentinels) < {SENTINEL_QUORUM}",
        "1m",
        "{{ $labels.instance }}: only {{ $value }} Sentinels agree on {{ $labels.master_name }}"
        f" (quorum {SENTINEL_QUORUM}): no failover possible",
        "alert-redis-sentinel",
    ),
    _alert(
        "RedisMemoryNearMaxmemory",
        "critical",
        "max by (instance) (redis_memory_used_bytes / (redis_memory_max_bytes > 0)) > 0.9",
        "2m",
        "{{ $labels.instance }}: Redis at {{ $value | humanizePercentage }} of maxmemory"
        " (noeviction refuses writes when full)",
        "alert-redis-memory",
    ),
)

JOBS = (
    _alert(
        "JobQueueBacklog",
        "warning",
        f"max by (queue) (neurmatic_queue_depth) > {QUEUE_DEPTH}",
        "10m",
        f"{{{{ $value }}}} jobs waiting in queue {{{{ $labels.queue }}}} (over {QUEUE_DEPTH} for 10m)",
        "alert-jobs",
    ),
    _alert(
        "JobsFailing",
        "warning",
        'max by (queue) (increase(neurmatic_jobs_total{outcome="failed"}[15m])) > 0',
        "0m",
        "{{ $value | humanize }} jobs of queue {{ $labels.queue }} failed in 15 minutes",
        "alert-jobs",
    ),
    _alert(
        "WorkerHeartbeatMissing",
        "critical",
        "max(neurmatic_workers_alive) < 1",
        "1m",
        "no job worker has a live heartbeat: jobs and cron tasks are not running",
        "alert-worker",
    ),
)

DATA_SAFETY = (
    _alert(
        "BackupTooOld",
        "critical",
        f"time() - max(neurmatic_backup_last_success_timestamp_seconds) > {BACKUP_MAX_AGE_HOURS} * 3600",
        "5m",
        "the last good backup finished {{ $value | humanizeDuration }} ago"
        f" (over {BACKUP_MAX_AGE_HOURS}h)",
        "alert-backup",
    ),
    _alert(
        "BackupFailed",
        "critical",
        "max(neurmatic_backup_last_failure_timestamp_seconds)\n"
        "> (max(neurmatic_backup_last_success_timestamp_seconds) or on () vector(0))",
        "0m",
        "the last backup attempt failed (no good backup since): see the backup job's log",
        "alert-backup",
    ),
    _alert(
        "WalArchiveFailing",
        "critical",
        "max(neurmatic_wal_archive_failing) == 1",
        "5m",
        "the primary's WAL archiver fails: point-in-time recovery loses what is not archived",
        "alert-wal-archive",
    ),
    _alert(
        "WalArchiveNotAdvancing",
        "critical",
        "max(neurmatic_wal_archive_pending_segments) > 0\n"
        "and max(increase(neurmatic_wal_archive_archived_total[10m])) == 0",
        "5m",
        "{{ $value }} closed WAL segments wait and none was archived for 10 minutes",
        "alert-wal-archive",
    ),
    _alert(
        "WalArchiveBehind",
        "warning",
        f"max(neurmatic_wal_archive_pending_segments) >= {WAL_ARCHIVE_BEHIND_SEGMENTS}",
        "10m",
        "{{ $value }} closed WAL segments wait to be archived"
        f" ({WAL_ARCHIVE_BEHIND_SEGMENTS} or more: the archiver is slower than the writes)",
        "alert-wal-archive",
    ),
    _alert(
        "WalArchiveRetrying",
        "warning",
        f"max(increase(neurmatic_wal_archive_failed_total[15m])) > {WAL_ARCHIVE_FAILURES}",
        "0m",
        "{{ $value | humanize }} WAL archive attempts failed in 15 minutes (a flaky repository)",
        "alert-wal-archive",
    ),
)

FRONT_DOOR = (
    _alert(
        "TlsCertificateExpiring",
        "warning",
        f"probe_ssl_earliest_cert_expiry - time() < {CERTIFICATE_WARNING_DAYS} * 86400",
        "10m",
        "{{ $labels.instance }}: the TLS certificate expires in {{ $value | humanizeDuration }}"
        f" (under {CERTIFICATE_WARNING_DAYS} days)",
        "alert-tls-certificate",
    ),
    _alert(
        "TlsCertificateExpiring",
        "critical",
        f"probe_ssl_earliest_cert_expiry - time() < {CERTIFICATE_CRITICAL_DAYS} * 86400",
        "10m",
        "{{ $labels.instance }}: the TLS certificate expires in {{ $value | humanizeDuration }}"
        f" (under {CERTIFICATE_CRITICAL_DAYS} days)",
        "alert-tls-certificate",
    ),
    _alert(
        "ServerErrorsSurging",
        "warning",
        f'sum(rate(neurmatic_http_requests_total{{status=~"5.."}}[5m])) > {SERVER_ERRORS_PER_SECOND}',
        "5m",
        "the site answers {{ $value | humanize }} 5xx responses per second"
        f" (over {SERVER_ERRORS_PER_SECOND}/s)",
        "alert-server-errors",
    ),
    _alert(
        "RateLimitRejectionsSurging",
        "warning",
        f'sum(rate(neurmatic_http_requests_total{{status="429"}}[5m])) > {RATE_LIMITED_PER_SECOND}',
        "10m",
        "{{ $value | humanize }} requests per second are refused by the rate limit"
        f" (over {RATE_LIMITED_PER_SECOND}/s)",
        "alert-rate-limit",
    ),
)


def operator_groups() -> tuple[Group, ...]:
    return (
        Group("neurmatic-availability", AVAILABILITY + DATABASE + ETCD + REDIS),
        Group("neurmatic-jobs-and-data", JOBS + DATA_SAFETY + FRONT_DOOR),
    )
