"""The Grafana dashboards: valid by Grafana's own JSON schema, every query parsed by promtool, every metric
one that something really exports, and the provisioning files pointing where the dashboards look."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from prometheus_client.metrics_core import Metric

from neurmatic.api.metrics.registry import ApiMetrics
from neurmatic.render.dashboards import DASHBOARDS, DATASOURCE, PROVISIONED_DIR
from tests.support import ROOT, require_binary

SCHEMAS = Path(__file__).parent / "schemas"
DASHBOARD_DIR = ROOT / "infrastructure/grafana/dashboards"
PROVISIONING = ROOT / "infrastructure/grafana/provisioning"

# What the Debian exporters and Prometheus itself export, among what the panels read. Checked by running
# prometheus-node-exporter 1.5 and prometheus-redis-exporter 1.45 (against a redis-server) and reading
# their /metrics; postgres_exporter 0.11's are its built-in `pg_stat_replication` map (the computed
# `pg_wal_lsn_diff` column), `pg_stat_activity` (`count`) and `pg_up`.
EXPORTED = {
    "prometheus": {"up", "ALERTS", "ALERTS_FOR_STATE"},
    "node": {
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
    },
    "postgres": {"pg_up", "pg_stat_activity_count", "pg_stat_replication_pg_wal_lsn_diff"},
    "redis": {"redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes"},
}
# What the issue asks the dashboards to show, by a metric that shows it.
REQUIRED = {
    "up",
    'ALERTS{alertstate="firing"}',
    "neurmatic_http_requests_total",
    "instance:neurmatic_http_request_duration_seconds:p95_rate5m",
    "instance:neurmatic_http_errors:ratio_rate5m",
    "pg_stat_replication_pg_wal_lsn_diff",
    "neurmatic_db_replica_lag_seconds",
    "neurmatic_queue_depth",
    "time() - max(neurmatic_backup_last_success_timestamp_seconds",
    "neurmatic_wal_archive_pending_segments",
    "redis_memory_used_bytes",
    "redis_memory_max_bytes",
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_avail_bytes",
}
NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
NOT_METRICS |= {"unless", "offset", "Inf", "NaN", "inf", "nan"}


def _dashboards() -> list[dict[str, Any]]:
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    assert len(files) == len(DASHBOARDS) >= 2
    return [json.loads(path.read_text()) for path in files]


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for d in _dashboards() for p in _panels(d) for t in p["targets"]]


def _schema(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, keywords, labels or durations)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        before, after = text[: match.start()], text[match.end() :].lstrip()
        if after.startswith("(") or match.group() in NOT_METRICS or re.search(r"[0-9.]$", before):
            continue
        names.add(match.group())
    return names


def _registry_names() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    families: list[Metric] = list(ApiMetrics(shared_dir=None).registry.collect())
    return {f.name + s for f in families for s in suffixes.get(f.type, ("",))}


def _recorded() -> set[str]:
    rules = yaml.safe_load((ROOT / "infrastructure/prometheus/rules.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


def test_the_dashboards_are_valid_by_grafanas_schema() -> None:
    dashboard, target = (
        _schema("grafana-dashboard.schema.json"),
        _schema("grafana-prometheus-dataquery.schema.json"),
    )
    for board in _dashboards():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in dashboard.iter_errors(board)]
        assert errors == [], board["uid"]
        ids = [p["id"] for p in _panels(board)]
        assert len(ids) == len(set(ids)), "panel ids must be unique within a dashboard"
        for panel in _panels(board):
            assert panel["datasource"] == DATASOURCE and panel["targets"], panel["title"]
            for query in panel["targets"]:
                assert list(target.iter_errors(query)) == [] and query["refId"] and query["expr"]


def test_the_schema_refuses_what_grafana_would_refuse() -> None:
    """The vendored schema has teeth: a panel wider than the grid, or an unknown key, fails."""
    validator = _schema("grafana-dashboard.schema.json")
    board = _dashboards()[0]
    too_wide = json.loads(json.dumps(board))
    too_wide["panels"][0]["gridPos"]["w"] = 25
    assert not validator.is_valid(too_wide)
    unknown = {**board, "rows": []}  # the pre-5.0 layout
    assert not validator.is_valid(unknown)


def test_promtool_parses_every_panel_query(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(_exprs())]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_every_metric_is_recorded_or_exported() -> None:
    known = _recorded() | _registry_names() | set().union(*EXPORTED.values())
    used = set().union(*(metric_names(expr) for expr in _exprs()))
    assert used - known == set(), "metrics nothing exports"
    assert {"neurmatic_queue_depth", "up", "node_cpu_seconds_total"} <= used


def test_metric_names_are_read_from_promql() -> None:
    expr = 'sum by (instance) (rate(http_total{status=~"5.."}[5m])) / on (job) max(up offset 5m) > 1e3'
    assert metric_names(expr) == {"http_total", "up"}


def test_the_dashboards_show_what_operators_watch() -> None:
    exprs = "\n".join(_exprs())
    assert [wanted for wanted in sorted(REQUIRED) if wanted not in exprs] == []


def test_provisioning_points_grafana_at_the_dashboards_and_prometheus() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards/neurmatic.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == [PROVISIONED_DIR]
    sources = yaml.safe_load((PROVISIONING / "datasources/prometheus.yml").read_text())["datasources"]
    prometheus = next(s for s in sources if s["type"] == "prometheus")
    assert prometheus["uid"] == DATASOURCE["uid"] and prometheus["url"] == "http://prometheus:9090"
    assert [s["isDefault"] for s in sources if s.get("isDefault")] == [True]
