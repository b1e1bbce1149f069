"""Cases for the guide's threshold table: each row warning, critical, and quiet at (or just under) its
warning threshold. The thresholds are restated here from the guide, not imported: a rule that drifts
from the table fails."""

from __future__ import annotations

from tests.ops.promtool_cases import API, Case, Fired, Series, api_answers

GIB = 1024**3
NODE = 'instance="db-1",job="node"'


def _requests(ok: float, errors: float) -> tuple[Series, ...]:
    """Per-minute answers of one API instance: ``ok`` 200s and ``errors`` 500s."""
    return api_answers("500", ok=ok, other=errors, quiet_ok=100)


def _latency(bucket: str) -> tuple[Series, ...]:
    """Ten requests a minute, all in the bucket whose upper bound is ``bucket`` once the condition starts."""
    bounds = ("0.1", "0.5", "1", "2.5", "+Inf")
    return tuple(
        Series(
            f'neurmatic_http_request_duration_seconds_bucket{{{API},method="GET",route="/x",le="{le}"}}',
            10,
            10 if bounds.index(le) >= bounds.index(bucket) else 0,
            counter=True,
        )
        for le in bounds
    )


def _cpu_idle(per_minute: float) -> tuple[Series, ...]:
    return (Series(f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}', 54, per_minute, counter=True),)


def _memory(available: float) -> tuple[Series, ...]:
    return (
        Series(f"node_memory_MemTotal_bytes{{{NODE}}}", 1000, 1000),
        Series(f"node_memory_MemAvailable_bytes{{{NODE}}}", 500, available),
    )


def _disk(available: float) -> tuple[Series, ...]:
    root = f'{NODE},mountpoint="/",fstype="ext4",device="/dev/sda1"'
    run = f'{NODE},mountpoint="/run",fstype="tmpfs",device="tmpfs"'  # full, but not a disk: ignored
    return (
        Series(f"node_filesystem_size_bytes{{{root}}}", 1000, 1000),
        Series(f"node_filesystem_avail_bytes{{{root}}}", 500, available),
        Series(f"node_filesystem_size_bytes{{{run}}}", 100, 100),
        Series(f"node_filesystem_avail_bytes{{{run}}}", 0, 0),
    )


def _pg(idle: float) -> tuple[Series, ...]:
    db = 'instance="db-1",job="postgres",datname="neurmatic"'
    return (
        Series(f'pg_stat_activity_count{{{db},state="active"}}', 100, 100),
        Series(f'pg_stat_activity_count{{{db},state="idle"}}', 0, idle),
    )


def _redis(used: float) -> tuple[Series, ...]:
    return (Series('redis_memory_used_bytes{instance="redis-1",job="redis"}', 1e9, used),)


Firing = tuple[tuple[Series, ...], str]  # the series, and the value as the summary shows it


def _row(
    alert: str,
    for_minutes: int,
    window: int,
    labels: dict[str, str],
    warning: Firing,
    critical: Firing,
    quiet: tuple[Series, ...],
) -> tuple[Case, ...]:
    """Warning fires alone; critical fires with its warning; ``quiet`` fires neither."""
    (warn_series, warn_shown), (crit_series, crit_shown) = warning, critical
    return (
        Case(alert, for_minutes, warn_series, (Fired("warning", labels, warn_shown),), window),
        Case(
            alert,
            for_minutes,
            crit_series,
            (Fired("warning", labels, crit_shown), Fired("critical", labels, crit_shown)),
            window,
        ),
        Case(alert, for_minutes, quiet, (), window, name=f"{alert} quiet at its threshold"),
    )


INSTANCE = {"instance": "api-1"}
HOST = {"instance": "db-1"}
REDIS = {"instance": "redis-1"}

# alert, for (minutes), rate window (minutes), labels, warning, critical, quiet at or under the threshold.
ROWS: tuple[tuple[str, int, int, dict[str, str], Firing, Firing, tuple[Series, ...]], ...] = (
    # 5xx share: 6 % warning, 12 % critical; 4 % nothing.
    (
        "ApiErrorRateHigh",
        5,
        5,
        INSTANCE,
        (_requests(94, 6), "6%"),
        (_requests(88, 12), "12%"),
        _requests(96, 4),
    ),
    # p95 interpolated in the bucket: 0.5 + 0.95 * 0.5 s; 1 + 0.95 * 1.5 s; 0.1 + 0.95 * 0.4 s = 0.48 s.
    (
        "ApiLatencyP95High",
        5,
        5,
        INSTANCE,
        (_latency("1"), "975ms"),
        (_latency("2.5"), "2.425s"),
        _latency("0.5"),
    ),
    # idle 9 s of 60: 85 % busy; 3 s: 95 %; 13 s: 78 %.
    ("HostCpuHigh", 10, 5, HOST, (_cpu_idle(9), "85"), (_cpu_idle(3), "95"), _cpu_idle(13)),
    ("HostMemoryHigh", 5, 0, HOST, (_memory(140), "86"), (_memory(40), "96"), _memory(160)),
    ("HostDiskHigh", 10, 0, {**HOST, "mountpoint": "/"}, (_disk(100), "90"), (_disk(40), "96"), _disk(150)),
    # 180 and 195 are the thresholds themselves: exactly 180 fires nothing.
    ("PostgresConnectionsHigh", 2, 0, HOST, (_pg(81), "181"), (_pg(96), "196"), _pg(80)),
    (
        "RedisMemoryHigh",
        5,
        0,
        REDIS,
        (_redis(1.9 * GIB), "1.9Gi"),
        (_redis(2 * GIB), "2Gi"),
        _redis(1.8 * GIB),
    ),
)

THRESHOLD_CASES = tuple(case for row in ROWS for case in _row(*row))
