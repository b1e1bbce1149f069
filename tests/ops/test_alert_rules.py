"""Every alert of infrastructure/prometheus/rules.yml, unit-tested by Prometheus's own promtool: it
fires at its threshold once its ``for:`` has elapsed, not before, not below, and resolves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.ops.alert_cases_operator import OPERATOR_CASES
from tests.ops.alert_cases_thresholds import THRESHOLD_CASES
from tests.ops.promtool_cases import promtool_test, rules_by_alert
from tests.support import ROOT, require_binary

RULES = ROOT / "infrastructure/prometheus/rules.yml"
CASES = THRESHOLD_CASES + OPERATOR_CASES


def test_promtool_accepts_the_rules() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_severity_for_summary_and_runbook() -> None:
    runbook = (ROOT / "docs/operations.md").read_text()
    rules = rules_by_alert(yaml.safe_load(RULES.read_text()))
    for (name, severity), rule in rules.items():
        assert severity in {"warning", "critical"}, name
        assert "for" in rule, name
        assert "{{" in rule["annotations"]["summary"] or name in NO_VALUE, name
        anchor = rule["annotations"]["runbook_url"].removeprefix("docs/operations.md#")
        assert f'<a id="{anchor}"></a>' in runbook, f"{name}: no section {anchor} in docs/operations.md"


# Alerts about something missing have no instance and no value to show.
NO_VALUE = {"PostgresNoPrimary", "WorkerHeartbeatMissing", "WalArchiveFailing", "BackupFailed"}


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    rules = rules_by_alert(yaml.safe_load(RULES.read_text()))
    fired = {(case.alert, f.severity) for case in CASES for f in case.expect}
    quiet = {case.alert for case in CASES if not case.expect}
    assert set(rules) - fired == set(), "alerts no case sees fire"
    assert {name for name, _ in rules} - quiet == set(), "alerts no case sees quiet"


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = rules_by_alert(yaml.safe_load(RULES.read_text()))
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": "1m",
                "tests": [promtool_test(case, rules) for case in CASES],
            },
            sort_keys=False,
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-20000:]
