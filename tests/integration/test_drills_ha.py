"""The PostgreSQL HA drills, each three times in a row on a topology of its own, with nobody acting:
PostgreSQL killed on the Patroni leader, the leader's Patroni killed, the etcd leader killed, and a
switchover under load. Each run must pass (its own checks: no acknowledged write lost, never two
primaries, the old leader back as a streaming standby) within the issue's bounds; the figures of the
three runs are printed (``-s``) as min/median/max.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bench.ha_drills import Series, record, summary

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology, started_topology
from tests.integration.test_drills import missed, run_drill

pytestmark = pytest.mark.topology
RUNS = 3
DB_FAILURE_RTO_BOUND = 10.0  # the bound: kill → first acknowledged write through nginx


@pytest.fixture(scope="module")
def ha_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "ha-drills") as running:
        yield running


def _runs(topology: RunningTopology, scenario: str) -> list[dict[str, Any]]:
    reports = []
    for run in range(1, RUNS + 1):
        code, report = run_drill(topology, scenario, "--duration", "45")
        assert code == ExitCode.OK and report["passed"], f"{scenario} run {run}: {missed(report)}"
        reports.append(report)
    _print_figures(scenario, reports)
    return reports


def _print_figures(scenario: str, reports: list[dict[str, Any]]) -> None:
    """The same min/median/max lines as ``./dev bench ha``."""
    series = Series()
    for report in reports:
        record(series, report)
    print("\n" + "\n".join(summary(scenario, series)))


def test_db_failure_fails_over_by_itself_within_ten_seconds_and_loses_nothing(
    ha_topology: RunningTopology,
) -> None:
    reports = _runs(ha_topology, "db-failure")
    for report in reports:
        assert report["rto"]["seconds"] < DB_FAILURE_RTO_BOUND, report["rto"]
        assert report["rpo"]["lost_writes"] == 0 and report["rpo"]["checked_writes"] > 0
        figures = report["figures"]
        assert figures["leader_after"] != figures["leader_before"], figures  # Patroni promoted the standby


def test_patroni_failure_loses_nothing_and_never_makes_two_primaries(ha_topology: RunningTopology) -> None:
    for report in _runs(ha_topology, "patroni-failure"):
        checks = {c["name"] for c in report["checks"]}
        assert "never two PostgreSQL nodes taking writes at once" in checks
        assert report["rpo"]["lost_writes"] == 0


def test_etcd_failure_neither_fails_over_nor_fails_a_write(ha_topology: RunningTopology) -> None:
    for report in _runs(ha_topology, "etcd-failure"):
        assert sum(s["failed_writes"] for s in report["stages"]) == 0
        assert {"no PostgreSQL failover", "no write failed"} <= {c["name"] for c in report["checks"]}


def test_switchover_under_load_loses_nothing(ha_topology: RunningTopology) -> None:
    for report in _runs(ha_topology, "switchover"):
        assert report["rpo"]["lost_writes"] == 0
        assert report["figures"]["leader_after"] != report["figures"]["leader_before"]
