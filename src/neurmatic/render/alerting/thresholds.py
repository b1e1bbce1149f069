"""The guide's alert thresholds ("Monitoring & Alerting"), one row each, warning and critical.

| Metric               | Warning | Critical |      metric used
| Error Rate           | > 5%    | > 10%    |      the API's neurmatic_http_requests_total, 5xx over all
| Response Time (p95)  | > 500ms | > 1000ms |      the API's neurmatic_http_request_duration_seconds
| CPU Usage            | > 80%   | > 90%    |      node_exporter node_cpu_seconds_total
| Memory Usage         | > 85%   | > 95%    |      node_exporter MemAvailable / MemTotal
| Disk Usage           | > 85%   | > 95%    |      node_exporter avail / size, real filesystems
| Database Connections | > 180   | > 195    |      postgres_exporter pg_stat_activity_count
| Redis Memory         | > 1.8GB | > 1.95GB |      redis_exporter redis_memory_used_bytes

Both severities of a row share the alert name and ``for:``; Redis counts ``2gb`` (its maxmemory in
production) as 2 GiB, so the GB of the table are GiB here (1.8 GiB = 90 % of maxmemory).
"""

from __future__ import annotations

from dataclasses import dataclass

from neurmatic.render.alerting.model import Alert, Group, Recording

P95 = "instance:neurmatic_http_request_duration_seconds:p95_rate5m"
ERROR_RATIO = "instance:neurmatic_http_errors:ratio_rate5m"
GIB = 1024**3

RECORDINGS = Group(
    "neurmatic-recording",
    (
        Recording(
            P95,
            "histogram_quantile(0.95, sum by (instance, le) "
            "(rate(neurmatic_http_request_duration_seconds_bucket[5m])))",
        ),
        Recording(
            ERROR_RATIO,
            'sum by (instance) (rate(neurmatic_http_requests_total{status=~"5.."}[5m]))\n'
            "/ sum by (instance) (rate(neurmatic_http_requests_total[5m]))",
        ),
    ),
)


@dataclass(frozen=True)
class Row:
    """One row of the table: ``value`` is the PromQL of the measured quantity, by instance."""

    name: str
    value: str
    warning: float
    critical: float
    for_: str
    what: str  # the summary after the instance, holding the value's template
    shown: tuple[str, str]  # how the warning and critical thresholds read in the summary
    runbook: str

    def alerts(self) -> tuple[Alert, Alert]:
        return tuple(  # type: ignore[return-value]
            Alert(
                name=self.name,
                severity=severity,
                expr=f"{self.value} > {threshold}",
                for_=self.for_,
                summary=f"{{{{ $labels.instance }}}}: {self.what} (over {shown} for {self.for_})",
                runbook=self.runbook,
            )
            for severity, threshold, shown in (
                ("warning", self.warning, self.shown[0]),
                ("critical", self.critical, self.shown[1]),
            )
        )


ROWS = (
    Row(
        "ApiErrorRateHigh",
        ERROR_RATIO,
        0.05,
        0.10,
        "5m",
        "{{ $value | humanizePercentage }} of requests answered 5xx",
        ("5%", "10%"),
        "alert-api-error-rate",
    ),
    Row(
        "ApiLatencyP95High",
        P95,
        0.5,
        1.0,
        "5m",
        "p95 response time {{ $value | humanizeDuration }}",
        ("500ms", "1s"),
        "alert-api-latency",
    ),
    Row(
        "HostCpuHigh",
        '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))',
        80,
        90,
        "10m",
        "CPU {{ $value | humanize }}% busy",
        ("80%", "90%"),
        "alert-host-cpu",
    ),
    Row(
        "HostMemoryHigh",
        "100 * (1 - sum by (instance) (node_memory_MemAvailable_bytes)"
        " / sum by (instance) (node_memory_MemTotal_bytes))",
        85,
        95,
        "5m",
        "memory {{ $value | humanize }}% used",
        ("85%", "95%"),
        "alert-host-memory",
    ),
    Row(
        "HostDiskHigh",
        "100 * (1 - max by (instance, mountpoint) "
        '(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"})\n'
        "  / max by (instance, mountpoint) "
        '(node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}))',
        85,
        95,
        "10m",
        "disk {{ $labels.mountpoint }} {{ $value | humanize }}% full",
        ("85%", "95%"),
        "alert-host-disk",
    ),
    Row(
        "PostgresConnectionsHigh",
        "sum by (instance) (pg_stat_activity_count)",
        180,
        195,
        "2m",
        "{{ $value }} database connections",
        ("180", "195"),
        "alert-postgres-connections",
    ),
    Row(
        "RedisMemoryHigh",
        "max by (instance) (redis_memory_used_bytes)",
        1.8 * GIB,
        1.95 * GIB,
        "5m",
        "Redis uses {{ $value | humanize1024 }}B",
        ("1.8 GiB", "1.95 GiB"),
        "alert-redis-memory",
    ),
)


def threshold_groups() -> tuple[Group, ...]:
    """The recording rules, then the table's alerts."""
    return RECORDINGS, Group("neurmatic-thresholds", tuple(a for row in ROWS for a in row.alerts()))
