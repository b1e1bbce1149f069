"""``./dev bench ha [--state-dir D] [--runs N] [--duration S] [SCENARIO...]``: the PostgreSQL HA drills,
each run N times in a row on a running topology, with min/median/max of what they measured.

Per drill: the RTO (fault → writes through nginx succeed again, sustained), the acknowledged writes
lost, the failed writes during the fault, and when Patroni saw the failure and when the new leader
took writes. The drills inject the fault and only watch; every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurmatic.deployment.locate import resolve_state_dir

HA_DRILLS = ("db-failure", "patroni-failure", "etcd-failure", "switchover")


@dataclass
class Series:
    """One drill's runs."""

    passed: list[bool] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    leaders: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(name, []).append(float(value))


def run_drill(state_dir: Path, scenario: str, duration: float) -> dict[str, Any]:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "neurmatic", "drill", scenario, "--json", "--yes", "--rate", "4"),
            *("--duration", str(duration), "--state-dir", str(state_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=duration + 300,
        check=False,
    )
    if not result.stdout.strip():
        raise SystemExit(f"drill {scenario} printed no report (exit {result.returncode}):\n{result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def record(series: Series, report: dict[str, Any]) -> None:
    series.passed.append(bool(report["passed"]))
    series.add("rto_seconds", report["rto"]["seconds"])
    series.add("lost_writes", report["rpo"].get("lost_writes"))
    series.add("failed_writes", sum(s.get("failed_writes", 0) for s in report["stages"]))
    figures = report.get("figures", {})
    detected, writable = figures.get("detection_seconds"), figures.get("new_leader_writable_seconds")
    series.add("detection_seconds", detected)
    series.add("etcd_election_seconds", figures.get("etcd_election_seconds"))
    series.add("new_leader_writable_seconds", writable)
    if detected is not None and writable is not None:
        series.add("promotion_seconds", writable - detected)
    leaders = f"{figures['leader_before']}→{figures['leader_after']}" if figures.get("leader_before") else ""
    if figures.get("etcd_leader_before"):
        leaders += f" (etcd {figures['etcd_leader_before']}→{figures['etcd_leader_after']})"
    if leaders:
        series.leaders.append(leaders.strip())


def summary(name: str, series: Series) -> list[str]:
    leaders = ", ".join(series.leaders) or "-"
    lines = [f"{name}: {sum(series.passed)}/{len(series.passed)} passed; leaders {leaders}"]
    for key, values in series.values.items():
        lines.append(
            f"  {key:28} min {min(values):8.2f}  median {statistics.median(values):8.2f}  "
            f"max {max(values):8.2f}"
        )
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench ha", description=__doc__)
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(HA_DRILLS)} [all]"
    )
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=45.0, help="upper bound of each drill (seconds)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(HA_DRILLS))
    if unknown:
        parser.error(f"not an HA drill: {', '.join(unknown)} (choose from {', '.join(HA_DRILLS)})")
    state_dir = resolve_state_dir(args.state_dir)
    results: dict[str, Series] = {}
    for scenario in args.scenarios or HA_DRILLS:
        series = results.setdefault(scenario, Series())
        for run in range(1, args.runs + 1):
            report = run_drill(state_dir, scenario, args.duration)
            record(series, report)
            print(
                f"{scenario} run {run}: {'PASSED' if report['passed'] else 'FAILED'}, "
                f"RTO {report['rto']['seconds']} s",
                flush=True,
            )
    print()
    for scenario, series in results.items():
        print("\n".join(summary(scenario, series)))
    if not all(all(series.passed) for series in results.values()):
        raise SystemExit(1)
