"""The Kubernetes PrometheusRule carries exactly the rules of infrastructure/prometheus/rules.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support import ROOT, require_binary

MANIFEST = ROOT / "infrastructure/kubernetes/monitoring/prometheus-rule.yaml"
RULES = ROOT / "infrastructure/prometheus/rules.yml"


def test_the_prometheus_rule_holds_the_rule_file_groups() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["name"] and manifest["metadata"]["namespace"]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert len(groups) >= 2
    assert manifest["spec"]["groups"] == groups


def test_promtool_accepts_the_prometheus_rule_spec(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(yaml.safe_load(MANIFEST.read_text())["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(spec)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
