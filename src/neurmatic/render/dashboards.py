"""Grafana dashboards as code: the panels ``neurmatic top`` shows, for Grafana (provisioned from files).

The thresholds that colour the panels are the alert rules' own (:mod:`.alerting.thresholds` rows and the
operator limits), so a panel turns orange and red where the warning and critical alerts fire. Every query
reads the provisioned Prometheus data source (uid ``prometheus``); tests/ops/test_dashboards.py validates
the JSON against Grafana's dashboard schema and every expression with promtool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from neurmatic.render import render_template
from neurmatic.render.alerting import operator
from neurmatic.render.alerting.thresholds import ERROR_RATIO, P95, ROWS, Row

SCHEMA_VERSION = 39  # Grafana 10.4 to 11.2
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
GRID_WIDTH = 24
PROVISIONED_DIR = "/var/lib/grafana/dashboards/neurmatic"  # where the compose/Kubernetes mount puts them

Steps = tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    steps: Steps = ()  # (value, colour) above the green base: the alerts' thresholds
    kind: str = "timeseries"  # or "stat" (current value per series), "table" (firing alerts)
    width: int = 12
    height: int = 8
    description: str = ""
    base: str = "green"  # the colour below the first step
    names: tuple[tuple[str, str, str], ...] = ()  # (value, text shown, colour), e.g. 0 → DOWN


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]


def _row(name: str) -> Row:
    return next(row for row in ROWS if row.name == name)


def _alert_steps(row: Row) -> Steps:
    return (row.warning, "orange"), (row.critical, "red")


def _from_row(title: str, name: str, legend: str, unit: str) -> Panel:
    """A panel of one row of the guide's table: its measured value, coloured at its thresholds."""
    row = _row(name)
    return Panel(title, (Query(row.value, legend),), unit, _alert_steps(row))


OVERVIEW = Dashboard(
    "neurmatic-overview",
    "Neurmatic: overview",
    (
        Panel(
            "Scrape targets up",
            (Query("up", "{{job}} {{instance}}"),),
            steps=((1, "green"),),
            kind="stat",
            width=24,
            height=6,
            description="UP: Prometheus scraped the target; DOWN: it did not (alert TargetDown).",
            base="red",
            names=(("0", "DOWN", "red"), ("1", "UP", "green")),
        ),
        Panel(
            "Firing alerts",
            (Query('ALERTS{alertstate="firing"}'),),
            kind="table",
            width=24,
            height=7,
        ),
        Panel(
            "Request rate",
            (Query("sum by (instance) (rate(neurmatic_http_requests_total[5m]))", "{{instance}}"),),
            "reqps",
        ),
        _from_row("Response time p95", "ApiLatencyP95High", "{{instance}}", "s"),
        _from_row("Error rate (5xx)", "ApiErrorRateHigh", "{{instance}}", "percentunit"),
        Panel(
            "Job queue depth",
            (Query("max by (queue) (neurmatic_queue_depth)", "{{queue}}"),),
            steps=((operator.QUEUE_DEPTH, "red"),),
        ),
        Panel(
            "Last good backup, age",
            (Query("time() - max(neurmatic_backup_last_success_timestamp_seconds > 0)", "age"),),
            "s",
            ((operator.BACKUP_MAX_AGE_HOURS * 3600, "red"),),
            kind="stat",
            description="From the API's neurmatic_backup_last_success_timestamp_seconds (no value: none).",
        ),
    ),
)

INFRASTRUCTURE = Dashboard(
    "neurmatic-infrastructure",
    "Neurmatic: databases and hosts",
    (
        Panel(
            "PostgreSQL standby lag (WAL bytes behind)",
            (
                Query(
                    "max by (instance, application_name) (pg_stat_replication_pg_wal_lsn_diff)",
                    "{{instance}} → {{application_name}}",
                ),
            ),
            "bytes",
            ((operator.STANDBY_LAG_BYTES, "red"),),
        ),
        Panel(
            "PostgreSQL standby replay lag (seconds)",
            (Query("max(neurmatic_db_replica_lag_seconds)", "replay lag"),),
            "s",
            description="As the API reads it from the standby; -1: unknown.",
        ),
        Panel(
            "WAL segments waiting for the archive",
            (Query("max(neurmatic_wal_archive_pending_segments)", "pending"),),
            steps=((operator.WAL_ARCHIVE_BEHIND_SEGMENTS, "red"),),
            description="Closed WAL segments the primary has not archived yet; -1: unknown.",
        ),
        _from_row("PostgreSQL connections", "PostgresConnectionsHigh", "{{instance}}", "short"),
        Panel(
            "Redis memory and maxmemory",
            (
                Query("max by (instance) (redis_memory_used_bytes)", "{{instance}} used"),
                Query("max by (instance) (redis_memory_max_bytes)", "{{instance}} maxmemory"),
            ),
            "bytes",
            _alert_steps(_row("RedisMemoryHigh")),
        ),
        _from_row("Host CPU busy", "HostCpuHigh", "{{instance}}", "percent"),
        _from_row("Host memory used", "HostMemoryHigh", "{{instance}}", "percent"),
        _from_row("Host disk used", "HostDiskHigh", "{{instance}} {{mountpoint}}", "percent"),
    ),
)

DASHBOARDS = (OVERVIEW, INFRASTRUCTURE)
RECORDINGS_USED = (P95, ERROR_RATIO)  # the panels read the recording rules, never a second copy


def _thresholds(steps: Steps, base_colour: str) -> dict[str, Any]:
    # Grafana takes the first step as -Infinity whatever its value (it exports it as null, which its
    # own schema refuses), so the base is written as a number.
    base = [{"value": 0, "color": base_colour}]
    return {"mode": "absolute", "steps": base + [{"value": v, "color": c} for v, c in steps]}


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
        }
    if panel.kind == "table":
        return {"showHeader": True}
    return {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}


def _target(index: int, query: Query, kind: str) -> dict[str, Any]:
    instant = kind == "table"
    return {
        "refId": chr(ord("A") + index),
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": not instant,
        "instant": instant,
        **({"format": "table"} if instant else {}),
    }


def _panel_json(panel_id: int, panel: Panel, x: int, y: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [_target(i, q, panel.kind) for i, q in enumerate(panel.queries)],
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": _thresholds(panel.steps, panel.base)},
            "overrides": [],
        },
        "options": _options(panel),
    }
    if panel.description:
        body["description"] = panel.description
    if panel.names:
        shown = {value: {"text": text, "color": colour} for value, text, colour in panel.names}
        body["fieldConfig"]["defaults"]["mappings"] = [{"type": "value", "options": shown}]
    if panel.kind == "table":
        hidden = {"Time": True, "Value": True, "__name__": True, "alertstate": True}
        body["transformations"] = [{"id": "organize", "options": {"excludeByName": hidden}}]
    return body


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana stores it (the panels laid left to right, wrapping at the grid width)."""
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel_json(panel_id, panel, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["neurmatic"],
        "timezone": "utc",
        "editable": False,  # provisioned: changes belong in this file
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "panels": panels,
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
    }


def dashboard_files() -> dict[str, str]:
    """The dashboards and Grafana's provisioning files, by path relative to the project root."""
    files = {
        f"infrastructure/grafana/dashboards/{d.uid}.json": json.dumps(dashboard_json(d), indent=2) + "\n"
        for d in DASHBOARDS
    }
    files["infrastructure/grafana/provisioning/dashboards/neurmatic.yml"] = render_template(
        "grafana/dashboards.yml.j2", path=PROVISIONED_DIR
    )
    files["infrastructure/grafana/provisioning/datasources/prometheus.yml"] = render_template(
        "grafana/datasources.yml.j2",
        prometheus_uid=DATASOURCE["uid"],
        prometheus_url="http://prometheus:9090",
        alertmanager_url="http://alertmanager:9093",
    )
    return files
