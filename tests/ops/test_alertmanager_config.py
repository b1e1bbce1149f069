"""infrastructure/alertmanager/alertmanager.yml: valid for Alertmanager, routes critical alerts to Slack
and email and warnings to Slack (amtool), inhibits as documented (a real Alertmanager), holds no secret."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.mailbox import free_port
from tests.monitoring_servers import post_alerts, running_alertmanager
from tests.support import ROOT, require_binary

CONFIG = ROOT / "infrastructure/alertmanager/alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def route(**labels: str) -> str:
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items())
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_amtool_accepts_the_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout


def test_critical_alerts_reach_slack_and_email_warnings_slack_only() -> None:
    receivers = {r["name"]: r for r in yaml.safe_load(CONFIG.read_text())["receivers"]}
    critical = route(alertname="TargetDown", instance="api-1:8000", severity="critical")
    warning = route(alertname="HostCpuHigh", instance="db-1", severity="warning")
    assert set(receivers[critical]) == {"name", "slack_configs", "email_configs"}
    assert set(receivers[warning]) == {"name", "slack_configs"}
    assert route(alertname="Unlabelled") == warning  # no severity: Slack, never dropped


def test_grouping_and_no_secret_in_the_file() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname", "instance"]
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack and slack["api_url_file"].startswith("/")
    assert "smtp_auth_password" not in config["global"]
    assert config["global"]["smtp_auth_password_file"].startswith("/")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The production config in a real Alertmanager (no cluster), on a free loopback port."""
    with running_alertmanager(CONFIG, tmp_path_factory.mktemp("alertmanager"), free_port()) as url:
        yield url


def post(url: str, *alerts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Send alerts firing now; every alert Alertmanager holds, by its labels, with its status."""
    post_alerts(url, *alerts)
    held = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {",".join(f"{k}={v}" for k, v in sorted(a["labels"].items())): a["status"] for a in held}


def key(**labels: str) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def test_a_down_instance_silences_its_own_latency_and_errors_only(alertmanager: str) -> None:
    down = {"alertname": "TargetDown", "instance": "api-1", "job": "api", "severity": "critical"}
    own = {"alertname": "ApiLatencyP95High", "instance": "api-1", "severity": "warning"}
    own_errors = {"alertname": "ApiErrorRateHigh", "instance": "api-1", "severity": "critical"}
    other = {"alertname": "ApiLatencyP95High", "instance": "api-2", "severity": "warning"}
    held = post(alertmanager, down, own, own_errors, other)
    assert held[key(**own)]["state"] == "suppressed" and held[key(**own)]["inhibitedBy"]
    assert held[key(**own_errors)]["state"] == "suppressed"
    assert held[key(**other)]["state"] == "active"
    assert held[key(**down)]["state"] == "active"


def test_a_critical_alert_silences_its_own_warning(alertmanager: str) -> None:
    critical = {"alertname": "HostDiskHigh", "instance": "db-1", "severity": "critical"}
    warning = {"alertname": "HostDiskHigh", "instance": "db-1", "severity": "warning"}
    elsewhere = {"alertname": "HostDiskHigh", "instance": "db-2", "severity": "warning"}
    other_alert = {"alertname": "HostCpuHigh", "instance": "db-1", "severity": "warning"}
    held = post(alertmanager, critical, warning, elsewhere, other_alert)
    assert held[key(**warning)]["state"] == "suppressed"
    assert held[key(**elsewhere)]["state"] == "active"
    assert held[key(**other_alert)]["state"] == "active"
    assert held[key(**critical)]["state"] == "active"
