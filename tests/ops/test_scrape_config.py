"""Prometheus's scrape configuration, production's and the local topology's, checked by promtool; the
blackbox module by the exporter itself; every job the rules and dashboards name is scraped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from neurmatic.render.monitoring import production_prometheus, render_blackbox
from neurmatic.supervisor.layout import Paths, Ports
from neurmatic.supervisor.services.monitoring_access import local_prometheus_config
from neurmatic.supervisor.state import SECRET_NAMES, ServiceAccount, TopologyState
from tests.support import ROOT, require_binary

RULES = ROOT / "infrastructure/prometheus/rules.yml"
JOBS = {
    "api",
    "worker",
    "node",
    "postgres",
    "patroni",
    "etcd",
    "redis",
    "nginx",
    "blackbox",
    "prometheus",
    "alertmanager",
}


def _promtool_check(config: str, tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    result = subprocess.run(
        [require_binary("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_production_scrape_config_passes_promtool_and_scrapes_every_job(tmp_path: Path) -> None:
    text = production_prometheus(rules_file=str(RULES))
    _promtool_check(text, tmp_path)
    config = yaml.safe_load(text)
    assert {job["job_name"] for job in config["scrape_configs"]} == JOBS
    api = next(job for job in config["scrape_configs"] if job["job_name"] == "api")
    assert api["metrics_path"] == "/internal/metrics"  # nginx never forwards /internal/
    assert (ROOT / "infrastructure/prometheus/prometheus.yml").read_text() == production_prometheus()


def test_local_scrape_config_names_the_topology_ports(tmp_path: Path) -> None:
    from neurmatic.render.monitoring import render_prometheus

    secrets = {name: f"secret-{name}" for name in SECRET_NAMES}
    state = TopologyState(Paths(tmp_path), Ports(31000), 2, secrets, ServiceAccount(None, 0, 0))
    config = local_prometheus_config(state)
    text = render_prometheus(config).replace(config.rules_file, str(RULES))
    _promtool_check(text, tmp_path)
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert set(jobs) == JOBS
    redis = jobs["redis"]
    assert redis["metrics_path"] == "/scrape"
    targets = {t for group in redis["static_configs"] for t in group["targets"]}
    assert targets == {f"redis://127.0.0.1:{port}" for port in (31379, 31380, 31381, 31382, 31383)}
    assert {"target_label": "__address__", "replacement": "127.0.0.1:31121"} in redis["relabel_configs"]
    assert "secret-" not in text  # the exporters' passwords are in their environment, never here


def test_blackbox_module_is_accepted_by_the_exporter(tmp_path: Path) -> None:
    path = tmp_path / "blackbox.yml"
    path.write_text(render_blackbox(str(tmp_path / "ca.pem")))
    result = subprocess.run(
        [require_binary("prometheus-blackbox-exporter"), f"--config.file={path}", "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    module = yaml.safe_load(path.read_text())["modules"]["https_edge"]
    assert module["prober"] == "tcp" and module["tcp"]["tls"] is True  # a handshake, no HTTP request
