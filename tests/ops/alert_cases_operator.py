"""Cases for the operator alerts (down targets, replication, Sentinel, jobs, backups, WAL archive, TLS,
the front door): each fires after its ``for:``, resolves, and stays quiet on values that must not page."""

from __future__ import annotations

from tests.ops.promtool_cases import API, Case, Fired, Series, api_answers

DAY = 86400
WAL = "neurmatic_wal_archive"


def _down(alert: str, metric: str, instance: str, job: str) -> tuple[Case, ...]:
    labels = {"instance": instance, "job": job}
    up = f'{metric}{{instance="{instance}",job="{job}"}}'
    return (
        Case(alert, 1, (Series(up, 1, 0),), (Fired("critical", labels),)),
        Case(alert, 1, (Series(up, 1, 1),), (), name=f"{alert} quiet while up"),
    )


def _primaries(db1: float | None, db2: float | None) -> tuple[Series, ...]:
    """Patroni's ``patroni_primary`` of each node: 1 on the leader, from 1/0 to the given values."""
    return (
        Series('patroni_primary{instance="db-1:8008",job="patroni",name="db-1",scope="neurmatic"}', 1, db1),
        Series('patroni_primary{instance="db-2:8008",job="patroni",name="db-2",scope="neurmatic"}', 0, db2),
    )


def _etcd_up(*members: float) -> tuple[Series, ...]:
    """``up`` of each etcd member: 1, then the given values."""
    return tuple(
        Series(f'up{{instance="etcd-{i}:2379",job="etcd"}}', 1, value) for i, value in enumerate(members, 1)
    )


def _standby_streams(value: float | None) -> Series:
    return Series(
        'patroni_postgres_streaming{instance="db-2:8008",job="patroni",name="db-2",scope="neurmatic"}',
        1,
        value,
    )


def _streaming(lag: float | None) -> Series:
    return Series(
        'pg_stat_replication_pg_wal_lsn_diff{instance="db-1",job="postgres",application_name="db-2",'
        'client_addr="10.0.0.3",state="streaming"}',
        1024,
        lag,
    )


def _sentinels(ok: float) -> tuple[Series, ...]:
    return (
        Series(
            'redis_sentinel_master_ok_sentinels{instance="sentinel-1",job="sentinel",master_name="mymaster",'
            'master_address="10.0.0.5:6379"}',
            3,
            ok,
        ),
    )


def _redis_memory(used: float, maximum: float) -> tuple[Series, ...]:
    redis = 'instance="redis-1",job="redis"'
    return (
        Series(f"redis_memory_used_bytes{{{redis}}}", 100, used),
        Series(f"redis_memory_max_bytes{{{redis}}}", maximum, maximum),
    )


def _per_api(
    metric: str, quiet: float, fire: float, after: float | str = "quiet", **labels: str
) -> tuple[Series, ...]:
    """The same shared value as both API instances report it."""
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return tuple(
        Series(f'{metric}{{instance="{instance}",job="api"{extra}}}', quiet, fire, after)
        for instance in ("api-1", "api-2")
    )


def _answers(status: str, per_minute: float) -> tuple[Series, ...]:
    return api_answers(status, ok=600, other=per_minute, quiet_ok=600)


def _certificate(days_left: float) -> tuple[Series, ...]:
    return (
        Series(
            'probe_ssl_earliest_cert_expiry{instance="https://neurmatic.com",job="blackbox"}',
            90 * DAY,
            days_left * DAY,
        ),
    )


def _failures(per_minute: float) -> Series:
    """Failed jobs counted by the worker: a counter the API reports as a gauge."""
    return Series(
        f'neurmatic_jobs_total{{{API},queue="email",outcome="failed"}}', 0, per_minute, 0, counter=True
    )


def _archived(quiet: float, fire: float) -> Series:
    """WAL segments archived per minute (pg_stat_archiver's count, as the API reports it)."""
    return Series(f"{WAL}_archived_total{{{API}}}", quiet, fire, counter=True)


def _archive_failures(per_minute: float) -> Series:
    return Series(f"{WAL}_failed_total{{{API}}}", 0, per_minute, 0, counter=True)


CERT = {"instance": "https://neurmatic.com", "job": "blackbox"}

OPERATOR_CASES = (
    *_down("TargetDown", "up", "api-1", "api"),
    *_down("TargetDown", "up", "postgres-exporter-1", "postgres"),
    *_down("NginxDown", "nginx_up", "nginx-1", "nginx"),
    *_down("PostgresDown", "pg_up", "db-1", "postgres"),
    *_down("RedisDown", "redis_up", "redis-1", "redis"),
    # The primary becomes a replica (or its exporter loses it): no primary left.
    Case("PostgresNoPrimary", 1, _primaries(0, 0), (Fired("critical"),)),
    Case(
        "PostgresNoPrimary",
        1,
        _primaries(None, None),
        (Fired("critical"),),
        window=5,
        name="PostgresNoPrimary with no Patroni answering",
    ),
    Case("PostgresNoPrimary", 1, _primaries(0, 1), (), name="PostgresNoPrimary quiet after a switchover"),
    Case("PostgresSeveralPrimaries", 1, _primaries(1, 1), (Fired("critical", shown="2"),)),
    Case(
        "EtcdNoLeader",
        1,
        (Series('etcd_server_has_leader{instance="etcd-1:2379",job="etcd"}', 1, 0),),
        (Fired("critical", {"instance": "etcd-1:2379"}),),
    ),
    Case(
        "EtcdNoLeader",
        1,
        (Series('etcd_server_has_leader{instance="etcd-1:2379",job="etcd"}', 1, 1),),
        (),
        name="EtcdNoLeader quiet with a leader",
    ),
    Case("EtcdQuorumLost", 1, _etcd_up(1, 0, 0), (Fired("critical", shown="1"),)),
    Case("EtcdQuorumLost", 1, _etcd_up(1, 1, 0), (), name="EtcdQuorumLost quiet with one member down"),
    Case("PostgresSeveralPrimaries", 1, _primaries(0, 1), (), name="PostgresSeveralPrimaries quiet with one"),
    Case(
        "PostgresStandbyNotStreaming",
        2,
        (*_primaries(1, 0), _standby_streams(0)),
        (Fired("critical", {"instance": "db-1:8008", "name": "db-1"}),),
    ),
    Case(
        "PostgresStandbyNotStreaming",
        2,
        (*_primaries(1, 0), _standby_streams(1)),
        (),
        name="PostgresStandbyNotStreaming quiet while streaming",
    ),
    Case(
        "PostgresStandbyLagging",
        5,
        (_streaming(100 * 1024**2),),
        (Fired("warning", {"instance": "db-1", "application_name": "db-2"}, "100Mi"),),
    ),
    Case(
        "PostgresStandbyLagging",
        5,
        (_streaming(64 * 1024**2),),
        (),
        name="PostgresStandbyLagging quiet at 64 MiB",
    ),
    Case(
        "RedisSentinelQuorumLost",
        1,
        _sentinels(1),
        (Fired("critical", {"instance": "sentinel-1", "master_name": "mymaster"}, "1"),),
    ),
    Case("RedisSentinelQuorumLost", 1, _sentinels(2), (), name="RedisSentinelQuorumLost quiet at quorum"),
    Case(
        "RedisMemoryNearMaxmemory",
        2,
        _redis_memory(950, 1000),
        (Fired("critical", {"instance": "redis-1"}, "95%"),),
    ),
    Case(
        "RedisMemoryNearMaxmemory",
        2,
        _redis_memory(900, 1000),
        (),
        name="RedisMemoryNearMaxmemory quiet at 90%",
    ),
    Case(
        "RedisMemoryNearMaxmemory",
        2,
        _redis_memory(10**12, 0),
        (),
        name="RedisMemoryNearMaxmemory quiet without maxmemory",
    ),
    Case(
        "JobQueueBacklog",
        10,
        _per_api("neurmatic_queue_depth", 5, 150, queue="email"),
        (Fired("warning", {"queue": "email"}, "150"),),
    ),
    Case(
        "JobQueueBacklog",
        10,
        _per_api("neurmatic_queue_depth", 5, 100, queue="email"),
        (),
        name="JobQueueBacklog quiet at 100",
    ),
    # One failure a minute, then none: the alert fires at once, and stops 15 minutes after the last.
    Case(
        "JobsFailing",
        0,
        (_failures(1),),
        (Fired("warning", {"queue": "email"}, "15"),),
        window=15,
        name="JobsFailing on new failures",
    ),
    Case(
        "JobsFailing",
        0,
        _per_api("neurmatic_jobs_total", 3, 3, queue="email", outcome="failed"),
        (),
        window=15,
        name="JobsFailing quiet on old failures",
    ),
    Case("WorkerHeartbeatMissing", 1, _per_api("neurmatic_workers_alive", 1, 0), (Fired("critical"),)),
    Case(
        "WorkerHeartbeatMissing",
        1,
        _per_api("neurmatic_workers_alive", 1, 1),
        (),
        name="WorkerHeartbeatMissing quiet with a worker",
    ),
    # time() starts at 0: a backup at -27 h is 27 h 16 min old when the alert fires; one at -25 h 40 min
    # stays under 26 h.
    Case(
        "BackupTooOld",
        5,
        _per_api("neurmatic_backup_last_success_timestamp_seconds", 0, -27 * 3600),
        (Fired("critical", shown="1d 3h 16m 0s"),),
    ),
    Case(
        "BackupTooOld",
        5,
        _per_api("neurmatic_backup_last_success_timestamp_seconds", 0, -(25 * 3600 + 40 * 60)),
        (),
        name="BackupTooOld quiet under 26 h",
    ),
    # A failed attempt after the last success fires at once; a failure older than the success is quiet;
    # a failure with no success ever recorded fires too.
    Case(
        "BackupFailed",
        0,
        (
            *_per_api("neurmatic_backup_last_success_timestamp_seconds", 100, 100),
            *_per_api("neurmatic_backup_last_failure_timestamp_seconds", 50, 200),
        ),
        (Fired("critical"),),
    ),
    Case(
        "BackupFailed",
        0,
        (
            *_per_api("neurmatic_backup_last_success_timestamp_seconds", 100, 300),
            *_per_api("neurmatic_backup_last_failure_timestamp_seconds", 50, 200),
        ),
        (),
        name="BackupFailed quiet once a backup succeeded after the failure",
    ),
    Case(
        "BackupFailed",
        0,
        _per_api("neurmatic_backup_last_failure_timestamp_seconds", 0, 200),
        (Fired("critical"),),
        name="BackupFailed with no success ever",
    ),
    Case("WalArchiveFailing", 5, _per_api(f"{WAL}_failing", 0, 1), (Fired("critical"),)),
    Case("WalArchiveFailing", 5, _per_api(f"{WAL}_failing", 0, 0), (), name="WalArchiveFailing quiet"),
    # Segments wait and the archived count stands still: not advancing. Idle (nothing waits), or
    # waiting while the count moves, is quiet.
    Case(
        "WalArchiveNotAdvancing",
        5,
        (*_per_api(f"{WAL}_pending_segments", 0, 3), _archived(1, 0)),
        (Fired("critical", shown="3"),),
        window=10,
    ),
    Case(
        "WalArchiveNotAdvancing",
        5,
        (*_per_api(f"{WAL}_pending_segments", 0, 0), _archived(1, 0)),
        (),
        window=10,
        name="WalArchiveNotAdvancing quiet when idle",
    ),
    Case(
        "WalArchiveNotAdvancing",
        5,
        (*_per_api(f"{WAL}_pending_segments", 0, 3), _archived(1, 1)),
        (),
        window=10,
        name="WalArchiveNotAdvancing quiet while archiving",
    ),
    Case("WalArchiveBehind", 10, _per_api(f"{WAL}_pending_segments", 1, 16), (Fired("warning", shown="16"),)),
    Case(
        "WalArchiveBehind",
        10,
        _per_api(f"{WAL}_pending_segments", 1, 15),
        (),
        name="WalArchiveBehind quiet at 15",
    ),
    Case(
        "WalArchiveRetrying",
        0,
        (_archive_failures(1), _archived(1, 1)),
        (Fired("warning", shown="15"),),
        window=15,
    ),
    Case(
        "WalArchiveRetrying",
        0,
        (_archive_failures(0.1), _archived(1, 1)),
        (),
        window=15,
        name="WalArchiveRetrying quiet on a failure now and then",
    ),
    Case("TlsCertificateExpiring", 10, _certificate(10), (Fired("warning", CERT, "9d 23h 39m 0s"),)),
    Case(
        "TlsCertificateExpiring",
        10,
        _certificate(2),
        (Fired("warning", CERT, "1d 23h 39m 0s"), Fired("critical", CERT, "1d 23h 39m 0s")),
    ),
    Case("TlsCertificateExpiring", 10, _certificate(15), (), name="TlsCertificateExpiring quiet at 15 days"),
    Case("ServerErrorsSurging", 5, _answers("502", 120), (Fired("warning", shown="2"),), window=5),
    Case(
        "ServerErrorsSurging",
        5,
        _answers("502", 54),
        (),
        window=5,
        name="ServerErrorsSurging quiet under 1/s",
    ),
    Case("RateLimitRejectionsSurging", 10, _answers("429", 600), (Fired("warning", shown="10"),), window=5),
    Case(
        "RateLimitRejectionsSurging",
        10,
        _answers("429", 240),
        (),
        window=5,
        name="RateLimitRejectionsSurging quiet under 5/s",
    ),
)
