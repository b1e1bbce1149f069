"""``neurmatic health``: one stopped component is exactly the one marked failed, and the exit code says so."""

from __future__ import annotations

import json
from pathlib import Path

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.supervisor.topology import Topology
from tests.conftest import RunningTopology
from tests.support import neurmatic


def _health(topology: RunningTopology) -> tuple[int, dict[str, object]]:
    result = neurmatic("health", "--json", state_dir=topology.state_dir, check=False)
    return result.returncode, json.loads(result.stdout)


def test_health_marks_exactly_the_stopped_component(topology: RunningTopology, tmp_path: Path) -> None:
    neurmatic("backup", "--dir", str(tmp_path), state_dir=topology.state_dir)
    result = neurmatic(
        "health", "--json", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False
    )
    report = json.loads(result.stdout)
    assert result.returncode == ExitCode.OK, report
    assert report["status"] == "healthy" and {c["status"] for c in report["checks"]} <= {
        "up",
        "not_configured",
    }
    # The public sees only the verdict, but the operators' command asks each instance directly (the
    # internal network) and keeps the whole report: roles, lag, queues.
    backends = {c["name"]: c["detail"] for c in report["checks"] if c["name"].startswith("backend-")}
    assert set(backends) == {"backend-1", "backend-2"}
    for detail in backends.values():
        assert "version " in detail and "database_replica up (role standby, streaming True" in detail
        assert "queue up (workers " in detail
    verbose = neurmatic(
        "health", "--verbose", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False
    )
    assert "database up (role primary)" in verbose.stdout and "redis up (role master" in verbose.stdout
    Topology(topology.state).service("redis-2").stop()
    try:
        result = neurmatic(
            "health", "--json", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False
        )
        report = json.loads(result.stdout)
        failed = [c["name"] for c in report["checks"] if c["status"] != "up"]
        assert result.returncode == ExitCode.UNHEALTHY and report["status"] == "unhealthy"
        assert failed == ["redis-2"]
        human = neurmatic("health", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False)
        assert "✗ redis-2" in human.stdout and "overall: unhealthy" in human.stdout
    finally:
        neurmatic("up", state_dir=topology.state_dir)
    assert _health(topology)[1]["status"] in ("healthy", "degraded")
