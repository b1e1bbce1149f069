"""Every exit code of the README's table, produced through the real CLI, one test per code.

Most need no running server: a topology created but never started (its ``app.env`` written, as the first
``up`` does) is the situation itself. The codes that need a running system are tested where that system
is: 5 and 6 in test_cli_errors.py, 9 in test_health_command.py, 13 in test_backup_restore.py,
14 here on the session topology, 16 in integration/test_drills.py, 17 in integration/test_db_failover.py,
21 and 22 in integration/test_deploy.py. The last two tests keep the table, the enum and the tests in
step: a new code is documented and tested, or this fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology
from tests.support import ROOT, neurmatic, never_started_state

NO_BUCKET = {"AWS_BACKUP_BUCKET": "", "S3_BUCKET": ""}


@pytest.fixture(scope="module")
def never_started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A topology's state directory as `up` leaves it before starting the first server."""
    return never_started_state(tmp_path_factory, "exit-codes")


def test_0_ok() -> None:
    result = neurmatic("--version", check=False)
    assert result.returncode == ExitCode.OK and "neurmatic" in result.stdout


def test_1_an_unforeseen_failure_is_one_line_and_a_hint(never_started: Path) -> None:
    log = never_started / "logs" / "worker.log"
    log.mkdir(parents=True)  # a log the command cannot read: nothing it foresees
    try:
        result = neurmatic("logs", "worker", state_dir=never_started, check=False)
    finally:
        log.rmdir()
    assert result.returncode == ExitCode.FAILURE
    assert "unexpected error: IsADirectoryError" in result.stderr and "NEURMATIC_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_2_usage_a_restore_address_that_names_no_backup(never_started: Path) -> None:
    result = neurmatic("restore", "s3://nobucket/notes.txt", "--yes", state_dir=never_started, check=False)
    assert result.returncode == ExitCode.USAGE
    assert "is not an s3://bucket/database/neurmatic_" in result.stderr and "backup list" in result.stderr


def test_3_configuration_lifecycle_without_a_bucket(never_started: Path) -> None:
    result = neurmatic("backup", "lifecycle", "apply", state_dir=never_started, check=False, env=NO_BUCKET)
    assert result.returncode == ExitCode.CONFIGURATION
    assert "no backup bucket" in result.stderr and "AWS_BACKUP_BUCKET" in result.stderr


def test_3_configuration_a_retention_that_is_not_a_number(never_started: Path) -> None:
    result = neurmatic(
        "backup", state_dir=never_started, check=False, env={"BACKUP_RETENTION_DAYS": "a month"}
    )
    # Refused before the database is asked (not after a dump of an hour).
    assert result.returncode == ExitCode.CONFIGURATION and "BACKUP_RETENTION_DAYS" in result.stderr


def test_4_missing_dependency(never_started: Path) -> None:
    result = neurmatic(
        "backup", "schedule", "--method", "cron", state_dir=never_started, check=False,
        env={"PATH": "/nonexistent"},
    )  # fmt: skip
    assert result.returncode == ExitCode.MISSING_DEPENDENCY
    assert "crontab is not installed" in result.stderr and "apt-get install cron" in result.stderr


def test_7_service_failed_a_drill_on_a_topology_that_is_not_whole(never_started: Path) -> None:
    result = neurmatic("drill", "redis-failure", "--yes", state_dir=never_started, check=False)
    assert result.returncode == ExitCode.SERVICE_FAILED
    assert "not whole" in result.stderr and "neurmatic up" in result.stderr


def test_8_not_running(never_started: Path) -> None:
    result = neurmatic("status", state_dir=never_started, check=False)
    assert result.returncode == ExitCode.NOT_RUNNING and "neurmatic up" in result.stderr


def test_10_aborted_without_yes_and_without_a_terminal(never_started: Path) -> None:
    result = neurmatic("drill", "redis-failure", state_dir=never_started, check=False, stdin="y\n")
    assert result.returncode == ExitCode.ABORTED and "--yes" in result.stderr


def test_11_backup_invalid_nothing_to_verify(never_started: Path) -> None:
    result = neurmatic("backup", "verify", state_dir=never_started, check=False)
    assert result.returncode == ExitCode.BACKUP_INVALID and "no backup to verify" in result.stderr


def test_12_backup_failed_the_database_is_down(never_started: Path, tmp_path: Path) -> None:
    result = neurmatic("backup", "--dir", str(tmp_path), state_dir=never_started, check=False)
    assert result.returncode == ExitCode.BACKUP_FAILED and "is PostgreSQL running" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing partial left


def test_14_degraded_no_backup_yet(topology: RunningTopology, tmp_path: Path) -> None:
    result = neurmatic(
        "health", "--json", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False
    )
    report = json.loads(result.stdout)
    warned = [c["name"] for c in report["checks"] if c["status"] != "up"]
    assert result.returncode == ExitCode.DEGRADED and report["status"] == "degraded", report
    assert warned == ["backups"], report


def test_15_s3_unavailable(never_started: Path) -> None:
    unreachable = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard: nothing listens
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "eu-west-1",
    }
    result = neurmatic(
        "restore", "s3://nobucket/database/neurmatic_20250101_000000.sql.gz", "--yes",
        state_dir=never_started, check=False, env=unreachable,
    )  # fmt: skip
    assert result.returncode == ExitCode.S3_UNAVAILABLE and "cannot download" in result.stderr


def test_20_deploy_failed_nothing_to_roll_back(never_started: Path) -> None:
    result = neurmatic("rollback", "--yes", state_dir=never_started, check=False)
    assert result.returncode == ExitCode.DEPLOY_FAILED and "nothing to roll back" in result.stderr


def _readme_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    paragraph = text[text.index("Exit codes:") :].split("\n\n", 1)[0]
    body = " ".join(paragraph.removeprefix("Exit codes:").split())
    return {int(code): meaning.strip(" ,.") for code, meaning in re.findall(r"(\d+) ([^,]+)", body)}


def test_the_readme_table_is_the_exit_code_enum() -> None:
    assert set(_readme_codes()) == {code.value for code in ExitCode}


def test_every_exit_code_is_asserted_by_some_test() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    untested = [code.name for code in ExitCode if not re.search(rf"ExitCode\.{code.name}\b", sources)]
    assert untested == []
