"""The guide's load scenario through the load balancer, with Locust, headless, against a running topology:

    ./dev bench load [--users 1000] [--duration 60] [--spawn-rate R] [--member-percent 5] [--think 1-5]
                     [--processes 1] [--max-requests N] [--state-dir D] [--json]

The community's traffic (bench/load/locustfile.py): anonymous readers browse article lists (pages,
category and tag filters, sorts), article pages and search; a few signed-in members sign in as they arrive,
read their notifications and bookmarks, bookmark articles and now and then write one. Every user thinks
1-5 s between actions and connects from its own loopback address, over TLS verified against the topology's
CA, so nginx's and the app's per-client limits act as in production.

Bounded: at most 300 s and ``--max-requests``. Prints p50/p95/p99, req/s, errors by kind (and what nginx's
and the API's logs said), the CPU used by each part of the system and by Locust, and PASS or FAIL against
the guide's target (p95 < 200 ms and < 1 % errors); exits 1 on FAIL. The members' accounts are written
before the run and deleted after it. Only loopback addresses are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load.cpu import CpuReport, Snapshot
from bench.load.edge import EdgeReport, ServerLogs
from bench.load.prepare import accounts_needed, cleanup, prepare
from bench.load.results import Results
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState

MAX_DURATION = 300
MAX_USERS = 10_000
TARGET_P95_MS = 200.0
TARGET_ERROR_PERCENT = 1.0
AIM_P95_MS = 50.0
REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "bench" / "load" / "locustfile.py"


@dataclass(frozen=True)
class Outcome:
    results: Results
    cpu: CpuReport
    edge: EdgeReport

    @property
    def passed(self) -> bool:
        t = self.results.total
        return t.requests > 0 and t.p95 < TARGET_P95_MS and self.results.error_percent < TARGET_ERROR_PERCENT

    @property
    def aim_met(self) -> bool:
        return self.results.total.p95 < AIM_P95_MS and self.results.total.failures == 0


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--users", type=int, default=1000, help="concurrent users (default 1000)")
    add("--duration", type=int, default=60, help=f"seconds, ramp-up included (max {MAX_DURATION})")
    add("--spawn-rate", type=float, default=None, help="users started per second [a ramp of ~20 s]")
    add("--member-percent", type=int, default=5, help="signed-in share of the users (1-50)")
    add("--think", default="1-5", help="seconds between a user's actions, MIN-MAX")
    add("--processes", type=int, default=1, help="Locust processes (it competes for the CPU)")
    add("--max-requests", type=int, default=None, help="stop after this many [users x duration]")
    add("--state-dir", type=Path, default=None)
    add("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration must be within 1..{MAX_DURATION} seconds")
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be within 1..{MAX_USERS}")
    if not 1 <= args.member_percent <= 50:
        parser.error("--member-percent must be within 1..50")
    if not re.fullmatch(r"\d+(\.\d+)?(-\d+(\.\d+)?)?", args.think):
        parser.error("--think is MIN-MAX in seconds, e.g. 1-5")
    if not 1 <= args.processes <= (os.cpu_count() or 1) * 2:
        parser.error("--processes must be at least 1 and at most twice the cores")
    args.spawn_rate = args.spawn_rate or max(1.0, args.users / min(20.0, args.duration / 3))
    args.max_requests = args.max_requests or args.users * args.duration
    return args


def _locust(args: argparse.Namespace, state: TopologyState, scenario: Path, work: Path) -> list[str]:
    command = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "--host", f"https://{HOST}:{state.ports.https}",
        "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{args.duration}s",
        "--stop-timeout", "5",
        "--csv", str(work / "run"),
        "--exit-code-on-error", "0",
        "--scenario", str(scenario),
        "--member-percent", str(args.member_percent),
        "--think", args.think,
    ]  # fmt: skip
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    return command


def run(args: argparse.Namespace, state: TopologyState, work: Path) -> Outcome:
    accounts = accounts_needed(args.users, args.member_percent, args.processes)
    scenario, run_id = prepare(
        state, work, accounts=accounts, max_requests=args.max_requests, processes=args.processes
    )
    try:
        logs = ServerLogs.start(state.paths.root)
        paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        log = work / "locust.log"
        first = Snapshot.take(state)
        with open(log, "wb") as out:
            proc = subprocess.run(
                _locust(args, state, scenario, work),
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=args.duration + 120,
                check=False,
            )
        last = Snapshot.take(state)
        if proc.returncode != 0 or not (work / "run_stats.csv").exists():
            sys.stderr.write(log.read_text()[-4000:])
            raise SystemExit(f"locust failed (exit {proc.returncode}); its log is above")
        return Outcome(Results.read(work / "run"), CpuReport.between(first, last), logs.report())
    finally:
        cleanup(state, run_id)


def _print(args: argparse.Namespace, outcome: Outcome) -> None:
    print(
        f"load through nginx (TLS): {args.users} users ({args.member_percent} % signed in), "
        f"think {args.think} s, {args.duration} s with a ramp of {args.users / args.spawn_rate:.0f} s, "
        f"{args.processes} Locust process(es)"
    )
    for line in (*outcome.results.lines(), *outcome.edge.lines(), *outcome.cpu.lines()):
        print(line)
    p95, errors = outcome.results.total.p95, outcome.results.error_percent
    print(
        f"{'PASS' if outcome.passed else 'FAIL'}: p95 {p95:.0f} ms (target < {TARGET_P95_MS:.0f}), "
        f"errors {errors:.2f} %"
        f" (target < {TARGET_ERROR_PERCENT:.0f} %); aim p95 < {AIM_P95_MS:.0f} ms and no errors: "
        f"{'met' if outcome.aim_met else 'not met'}"
    )


def main(argv: list[str] | None = None) -> None:
    args = _arguments(sys.argv[2:] if argv is None else argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="neurmatic-load-") as work:
        outcome = run(args, state, Path(work))
    if args.json:
        print(
            json.dumps(
                {
                    "users": args.users,
                    "duration_s": args.duration,
                    "spawn_rate": args.spawn_rate,
                    "member_percent": args.member_percent,
                    "processes": args.processes,
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "passed": outcome.passed,
                    "aim_met": outcome.aim_met,
                    "results": outcome.results.as_dict(),
                    "nginx": outcome.edge.as_dict(),
                    "cpu": outcome.cpu.as_dict(),
                },
                indent=2,
            )
        )
    else:
        _print(args, outcome)
    sys.exit(0 if outcome.passed else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
