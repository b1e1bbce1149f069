"""The guide's script names keep working as thin wrappers over the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import RunningTopology
from tests.support import ROOT

SCRIPTS = ROOT / "infrastructure" / "scripts"


def _run(
    script: str, *args: str, topology: RunningTopology, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NEURMATIC_STATE_DIR": str(topology.state_dir), **(env or {})},
    )


def test_backup_restore_and_health_scripts(topology: RunningTopology, tmp_path: Path) -> None:
    made = _run("backup.sh", "--json", topology=topology, env={"BACKUP_DIR": str(tmp_path)})
    assert made.returncode == 0, made.stderr
    backup = json.loads(made.stdout)["path"]
    restored = _run("restore.sh", backup, topology=topology, env={"DB_NAME": "neurmatic_script_restore"})
    assert restored.returncode == 0 and "neurmatic_script_restore" in restored.stderr
    checked = _run("health-check.sh", "-j", topology=topology, env={"BACKUP_DIR": str(tmp_path)})
    assert json.loads(checked.stdout)["status"] in ("healthy", "degraded")
    usage = _run("restore.sh", topology=topology)
    assert usage.returncode == 2 and "usage" in usage.stderr
