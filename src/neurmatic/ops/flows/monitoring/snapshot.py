"""The figures ``neurmatic top`` shows, read from Prometheus at one moment: a ``Snapshot``.

Querying only: rendering lives with the command (``ops/commands/top_view.py``), so drills and tests read
the same figures without a terminal. Each figure is one PromQL expression below; a figure Prometheus has
no series for (an exporter not scraped yet, no request in the window) is None, never a made-up zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from neurmatic.adapters.prometheus import PrometheusApi, RuleAlert, Sample

# The live view's window: short enough to follow a change within a minute, long enough for several
# scrapes (the alerting rules use 5m: they judge, this watches).
WINDOW = "1m"
REQUESTS = "neurmatic_http_requests_total"


def queries(window: str = WINDOW) -> dict[str, str]:
    """Each figure's PromQL, the rates over ``window`` (a PromQL duration: ``1m``, ``10s``)."""
    return {
        "up": "up",
        # A target scraped through an exporter stays `up` when the server behind it is down: the
        # exporter's own verdict on its server (1 or 0) decides too.
        "server_up": '{__name__=~"redis_up|pg_up|nginx_up|probe_success"}',
        "rate": f"sum by (instance) (rate({REQUESTS}[{window}]))",
        "p95": "histogram_quantile(0.95, sum by (instance, le) "
        f"(rate(neurmatic_http_request_duration_seconds_bucket[{window}])))",
        # No 5xx series at all is a ratio of 0, not a missing figure: `or … * 0` supplies the zero.
        "errors": f'(sum by (instance) (rate({REQUESTS}{{status=~"5.."}}[{window}])) '
        f"or sum by (instance) (rate({REQUESTS}[{window}])) * 0) "
        f"/ sum by (instance) (rate({REQUESTS}[{window}]))",
        "standby_lag": "max by (instance, application_name) (pg_stat_replication_pg_wal_lsn_diff)",
        "replica_lag_seconds": "max(neurmatic_db_replica_lag_seconds)",
        "queues": "max by (queue) (neurmatic_queue_depth)",
        "failed_jobs": "max by (queue) (neurmatic_queue_failed_jobs)",
        # 0 means "no backup recorded": no age rather than 55 years.
        "backup_age": "time() - max(neurmatic_backup_last_success_timestamp_seconds > 0)",
        "redis_used": "max by (instance) (redis_memory_used_bytes)",
        "redis_max": "max by (instance) (redis_memory_max_bytes)",
    }


@dataclass(frozen=True)
class Target:
    """A scraped target: up when its last scrape succeeded (Prometheus's ``up``) and, for a target
    scraped through an exporter, when the exporter reached the server behind it."""

    job: str
    instance: str
    up: bool
    name: str = ""  # the service the target belongs to (``backend-1``, ``postgres-2``), when labelled


@dataclass(frozen=True)
class ApiFigures:
    """One API instance's traffic over the window: requests per second, p95 latency, 5xx ratio."""

    instance: str
    requests_per_second: float | None
    p95_seconds: float | None
    error_ratio: float | None


@dataclass(frozen=True)
class StandbyLag:
    """How far a standby is behind the primary, in bytes of WAL (as the primary's exporter sees it)."""

    instance: str
    standby: str
    lag_bytes: float | None


@dataclass(frozen=True)
class RedisMemory:
    instance: str
    used_bytes: float | None
    max_bytes: float | None  # None or 0: no maxmemory set


@dataclass(frozen=True)
class FiringAlert:
    name: str
    severity: str
    instance: str
    since: datetime | None
    summary: str


@dataclass(frozen=True)
class Snapshot:
    """Everything ``top`` shows, as Prometheus saw it at ``taken_at``."""

    prometheus_url: str
    taken_at: datetime
    targets: list[Target]
    api: list[ApiFigures]
    standbys: list[StandbyLag]
    replica_lag_seconds: float | None
    queue_depth: dict[str, float | None]
    failed_jobs: dict[str, float | None]
    backup_age_seconds: float | None
    redis: list[RedisMemory]
    alerts: list[FiringAlert] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["taken_at"] = self.taken_at.isoformat()
        for alert in data["alerts"]:
            alert["since"] = alert["since"].isoformat() if alert["since"] else None
        return data


def take_snapshot(prometheus: PrometheusApi, *, window: str = WINDOW) -> Snapshot:
    """Ask Prometheus every figure now, rates over ``window`` (MonitoringUnavailable when it does not
    answer)."""
    results = {name: prometheus.query(expr) for name, expr in queries(window).items()}
    server_up: dict[tuple[str, str], float] = {}
    for sample in results["server_up"]:
        key = (sample.label("job"), sample.label("instance"))
        server_up[key] = min(sample.value, server_up.get(key, 1.0))
    rates, p95s, errors = (_by(results[k], "instance") for k in ("rate", "p95", "errors"))
    used, maximum = _by(results["redis_used"], "instance"), _by(results["redis_max"], "instance")
    return Snapshot(
        prometheus_url=prometheus.base_url,
        taken_at=datetime.now(UTC),
        targets=sorted(
            (
                Target(
                    s.label("job"),
                    s.label("instance"),
                    s.value == 1 and server_up.get((s.label("job"), s.label("instance")), 1.0) == 1,
                    s.label("service") or s.label("node"),
                )
                for s in results["up"]
            ),
            key=lambda t: (t.job, t.instance),
        ),
        api=[
            ApiFigures(instance, rates.get(instance), p95s.get(instance), errors.get(instance))
            for instance in sorted(rates.keys() | p95s.keys())
        ],
        standbys=sorted(
            (
                StandbyLag(s.label("instance"), s.label("application_name"), _finite(s.value))
                for s in results["standby_lag"]
            ),
            key=lambda s: (s.instance, s.standby),
        ),
        replica_lag_seconds=_first(results["replica_lag_seconds"]),
        queue_depth=dict(sorted(_by(results["queues"], "queue").items())),
        failed_jobs=dict(sorted(_by(results["failed_jobs"], "queue").items())),
        backup_age_seconds=_first(results["backup_age"]),
        redis=[
            RedisMemory(instance, used.get(instance), maximum.get(instance))
            for instance in sorted(used.keys() | maximum.keys())
        ],
        alerts=firing_alerts(prometheus.alerts()),
    )


def firing_alerts(alerts: list[RuleAlert]) -> list[FiringAlert]:
    """The firing ones (not the pending), critical first, then the oldest."""
    firing = [
        FiringAlert(a.name, a.severity, a.instance, a.active_at, a.summary)
        for a in alerts
        if a.state == "firing"
    ]
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(firing, key=lambda a: (a.severity != "critical", a.since or earliest, a.name))


def _finite(value: float) -> float | None:
    """NaN (a ratio of nothing, a quantile of no requests) is no figure; JSON cannot hold it either."""
    return None if math.isnan(value) else value


def _by(samples: list[Sample], label: str) -> dict[str, float | None]:
    return {s.label(label): _finite(s.value) for s in samples}


def _first(samples: list[Sample]) -> float | None:
    return _finite(samples[0].value) if samples else None
