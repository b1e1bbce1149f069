"""One API process against an Express + node-postgres peer, on the article list (issue 11, goal 1).

    ./dev bench api [--state-dir D] [--duration S] [--connections C] [--no-peer] [--json]

Against a running topology (``neurmatic up``): seeds the issue's dataset if the database has fewer
published articles (``neurmatic seed --articles 2000 --users 50``), signs in a bench account (one account,
reused across runs), then drives ``GET /api/v1/articles?page=1&limit=20`` with wrk on two paths:

- anonymous: the Redis read-through cache answers (warmed first);
- signed in (``Authorization: Bearer``): the database answers.

Each path goes to one API process the bench starts with the topology's settings (``WEB_CONCURRENCY=1``,
on its own loopback port, not through nginx), then to the Express peer (bench/peer/express:
cache mode for the anonymous path, database mode for the signed-in one), which this command starts on a
free loopback port against the topology's primary and Redis master, and stops. The requests come from
thousands of 10.x.y.z client addresses (X-Forwarded-For, which the API trusts from 127.0.0.1 as from
nginx), so the per-client rate limit acts as in production. Prints req/s, p50/p99 latency, errors (answers
of 400 and above, socket errors, timeouts) and the CPU milliseconds per request of the server's processes
(the process and all its children, from the kernel's counters, over the steady middle of the run), the
same for PostgreSQL (both nodes: the API reads from the standby, the peer from the primary), and the
API/peer ratios. Every wrk run has a duration; the total time is printed. Exits 1 when any run had
errors, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import BenchError
from bench.bench_session import bench_token, ensure_seeded
from bench.express_peer import ExpressPeer, LoopbackServer
from bench.load.cpu import postmasters
from bench.wrk import WrkResult, require_wrk, run_wrk, wrk_running
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.errors import NeurmaticError
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState

LIST_PATH = "/api/v1/articles?page=1&limit=20"
API_INSTANCE = "bench-api"
SINGLE_PROCESS_POOL = 10
MAX_DURATION = 60
WARMUP_SECONDS = 2
IDLE_TIMEOUT_SECONDS = 30.0
IDLE_INTERVAL_SECONDS = 0.25
IDLE_CORE_SHARE = 0.1  # below a tenth of a core, a server has drained its queue
PROBE_ADDRESS = "10.63.0.1"  # the checks' own client address, outside wrk's 10.64+ range


@dataclass(frozen=True)
class PathSpec:
    name: str
    peer_mode: str
    signed_in: bool


PATHS = (
    PathSpec("anonymous (cache)", "cache", signed_in=False),
    PathSpec("signed-in (database)", "db", signed_in=True),
)


@dataclass(frozen=True)
class Run:
    path: str
    server: str
    result: WrkResult
    cpu_ms_per_request: float | None  # None: no request was answered
    processes: int
    db_cpu_ms_per_request: float | None

    def as_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "path": self.path,
            "server": self.server,
            "requests": r.requests,
            "seconds": round(r.seconds, 2),
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 2),
            "p99_ms": round(r.p99_ms, 2),
            "max_ms": round(r.max_ms, 2),
            "errors": r.error_count,
            "errors_by_kind": r.errors,
            "cpu_ms_per_request": _rounded(self.cpu_ms_per_request),
            "processes": self.processes,
            "db_cpu_ms_per_request": _rounded(self.db_cpu_ms_per_request),
        }


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def tree_cpu_seconds(*roots: psutil.Process) -> tuple[float, int]:
    """User + system CPU of the ``roots`` and every descendant (live ones, and the ones they reaped), and
    how many processes that is."""
    total, count = 0.0, 0
    for root in roots:
        for member in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = member.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
                count += 1
    return total, count


@dataclass(frozen=True)
class Target:
    """A server under test: its name, the list's URL, its process and the database's processes."""

    server: str
    url: str
    process: psutil.Process
    database: tuple[psutil.Process, ...]


def probe(url: str, headers: dict[str, str]) -> httpx.Response:
    """One request as wrk sends it; its answer must be a full page of articles."""
    response = httpx.get(url, headers={**headers, "X-Forwarded-For": PROBE_ADDRESS}, timeout=30)
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200 or not body.get("success") or len(body.get("data", [])) != 20:
        raise BenchError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return response


def warm(url: str, headers: dict[str, str], *, cached: bool) -> None:
    """The anonymous path must be a cache hit before it is measured (the first request fills it)."""
    for _ in range(5):
        hit = probe(url, headers).headers.get("x-app-cache") == "HIT"
        if hit == cached:
            return
        time.sleep(0.2)
    state = "not a cache hit" if cached else "a cache hit"
    raise BenchError(f"GET {url} is still {state} after 5 tries: is Redis up?")


@dataclass(frozen=True)
class CpuSample:
    at: float
    server: float
    database: float
    processes: int


def sample(target: Target) -> CpuSample:
    server, processes = tree_cpu_seconds(target.process)
    return CpuSample(time.monotonic(), server, tree_cpu_seconds(*target.database)[0], processes)


def wait_idle(process: psutil.Process) -> None:
    """Until ``process`` (with its children) is idle: a server still answers the requests a finished run
    left queued, and that work must not land in the next run."""
    deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
    last = tree_cpu_seconds(process)[0]
    while time.monotonic() < deadline:
        time.sleep(IDLE_INTERVAL_SECONDS)
        now = tree_cpu_seconds(process)[0]
        if now - last < IDLE_INTERVAL_SECONDS * IDLE_CORE_SHARE:
            return
        last = now


def measure(spec: PathSpec, target: Target, headers: dict[str, str], args: Any) -> Run:
    """Warm up, let the server drain, then one run of ``--duration`` seconds. CPU per request is the CPU
    the processes used in the steady middle of the run (per second) over the run's req/s: the start and
    end of a run (connections opening, requests still in flight when wrk stops) do not skew it."""
    url = target.url
    warm(url, headers, cached=not spec.signed_in)
    run_wrk(url, seconds=min(WARMUP_SECONDS, args.duration), connections=args.connections, headers=headers)
    wait_idle(target.process)
    margin = args.duration / 5
    with wrk_running(url, seconds=args.duration, connections=args.connections, headers=headers) as wrk:
        time.sleep(margin)
        first = sample(target)
        time.sleep(args.duration - 2 * margin)
        last = sample(target)
        result = wrk.result()
    wait_idle(target.process)

    def per_request(seconds_used: float) -> float | None:
        return seconds_used / (last.at - first.at) / result.rps * 1000 if result.rps else None

    run = Run(
        spec.name,
        target.server,
        result,
        cpu_ms_per_request=per_request(last.server - first.server),
        processes=last.processes,
        db_cpu_ms_per_request=per_request(last.database - first.database),
    )
    _progress(
        f"  {target.server:8} {spec.name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms, "
        f"{_ms(run.cpu_ms_per_request)} CPU ms/req, errors {result.error_count}"
    )
    return run


def _ms(value: float | None, width: int = 0) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def compare_bodies(api_url: str, peer_url: str, headers: dict[str, str]) -> list[str]:
    """Where the peer's page differs from the API's (the uncached path of both): empty when identical."""
    mine, theirs = probe(api_url, headers).json(), probe(peer_url, {}).json()
    if mine == theirs:
        return []
    differences = [f"meta: {mine['meta']} != {theirs['meta']}"] if mine["meta"] != theirs["meta"] else []
    for index, (a, b) in enumerate(zip(mine["data"], theirs["data"], strict=False)):
        differences += [
            f"data[{index}].{key}: {a[key]!r} != {b.get(key)!r}" for key in a if a[key] != b.get(key)
        ]
    return differences[:10]


class SingleApiProcess(LoopbackServer):
    """One API process (``WEB_CONCURRENCY=1``) with the topology's settings, on a port of its own: the
    issue's "one API process", whatever number of workers the topology's instances run. Its pool is
    the one-process default (the topology divides it among an instance's workers)."""

    name = "the bench's API process"
    health_path = "/api/v1/health/live"

    def __init__(self, state: TopologyState, source: Path | None) -> None:
        super().__init__(state)
        self.source = source

    def command(self) -> tuple[list[str], dict[str, str], Path | None]:
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env |= {"WEB_CONCURRENCY": "1", "DATABASE_POOL_SIZE": str(SINGLE_PROCESS_POOL)}
        if self.source is not None:  # ahead of the installed package on the path
            env["PYTHONPATH"] = str(self.source.resolve())
        argv = [sys.executable, "-m", "neurmatic", "api", "--env-file", str(self.state.paths.app_env_file)]
        argv += ["--host", HOST, "--port", str(self.port), "--instance", API_INSTANCE]
        return argv, env, None


def run_all(state: TopologyState, args: Any, token: str) -> tuple[list[Run], list[str]]:
    with SingleApiProcess(state, args.api_source) as server:
        return _run_all(state, args, token, server)


def _run_all(
    state: TopologyState, args: Any, token: str, server: SingleApiProcess
) -> tuple[list[Run], list[str]]:
    database = tuple(postmasters(state))
    if len(database) < 2:
        raise BenchError("a PostgreSQL node is not running: see `neurmatic status`")
    api = Target("api", f"{server.base_url}{LIST_PATH}", psutil.Process(server.pid), database)
    runs: list[Run] = []
    differences: list[str] = []
    for spec in PATHS:
        headers = {"Authorization": f"Bearer {token}"} if spec.signed_in else {}
        runs.append(measure(spec, api, headers, args))
        if args.no_peer:
            continue
        with ExpressPeer(state, spec.peer_mode) as peer:
            target = Target("express", f"{peer.base_url}{LIST_PATH}", psutil.Process(peer.pid), database)
            if spec.signed_in:
                differences = compare_bodies(api.url, target.url, headers)
            runs.append(measure(spec, target, headers, args))
    return runs, differences


def ratios(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Per path: the API's req/s over the peer's, and its CPU per request over the peer's."""
    by_key = {(run.path, run.server): run for run in runs}
    out = {}
    for spec in PATHS:
        api, peer = by_key.get((spec.name, "api")), by_key.get((spec.name, "express"))
        if api and peer and peer.result.rps and api.cpu_ms_per_request and peer.cpu_ms_per_request:
            out[spec.name] = {
                "rps": round(api.result.rps / peer.result.rps, 3),
                "cpu_per_request": round(api.cpu_ms_per_request / peer.cpu_ms_per_request, 3),
            }
    return out


def render(report: dict[str, Any]) -> str:
    lines = [
        f"GET {LIST_PATH}: {report['connections']} connections, {report['duration']} s per run "
        f"(+{WARMUP_SECONDS} s warm-up), one API process (WEB_CONCURRENCY=1) vs one Express process",
        f"{'path':22} {'server':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/req':>11}"
        f" {'DB CPU ms/req':>14}",
    ]
    for run in report["runs"]:
        lines.append(
            f"{run['path']:22} {run['server']:8} {run['rps']:>9,.0f} {run['p50_ms']:>8.1f} "
            f"{run['p99_ms']:>8.1f} {run['errors']:>7} {_ms(run['cpu_ms_per_request'], 11)}"
            f" {_ms(run['db_cpu_ms_per_request'], 14)}"
            + ("  <- ERRORS: these figures do not count" if run["errors"] else "")
        )
        ratio = report["ratios"].get(run["path"])
        if ratio and run["server"] == "express":
            lines.append(
                f"{'':22} api/peer {ratio['rps']:>8.2f}x req/s, "
                f"{ratio['cpu_per_request']:.2f}x CPU per request"
            )
    if report["body_differences"]:
        lines.append("the peer's body differs from the API's: " + "; ".join(report["body_differences"]))
    lines.append(f"total {report['total_seconds']:.1f} s")
    return "\n".join(lines)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _duration(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_DURATION} seconds")
    return value


def _connections(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("between 1 and 10000")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench api", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--duration", type=_duration, default=10, help="seconds per run (default 10, max 60)")
    parser.add_argument("--connections", type=_connections, default=64, help="wrk connections (default 64)")
    parser.add_argument("--no-peer", action="store_true", help="measure the API only")
    parser.add_argument(
        "--api-source",
        type=Path,
        default=None,
        help="run the API from this source tree (another release's src/, for a before/after in one run)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def _guarded(step: Callable[[], int]) -> int:
    try:
        return step()
    except (BenchError, NeurmaticError) as exc:
        print(f"bench api: {exc}", file=sys.stderr)  # a NeurmaticError's text carries its hint
        return 2


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    def bench() -> int:
        started = time.monotonic()
        require_wrk()
        state_dir = resolve_state_dir(args.state_dir)
        state = TopologyState.load(state_dir)
        ensure_seeded(state, state_dir, _progress)
        with bench_token(state, _progress) as token:
            runs, differences = run_all(state, args, token)
        report = {
            "path": LIST_PATH,
            "duration": args.duration,
            "connections": args.connections,
            "runs": [run.as_json() for run in runs],
            "ratios": ratios(runs),
            "body_differences": differences,
            "total_seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(report, indent=2) if args.json else render(report))
        failed = [run for run in runs if run.result.error_count]
        for run in failed:
            print(
                f"!!! ERRORS: {run.server} {run.path}: {run.result.error_count} of "
                f"{run.result.requests} requests failed {run.result.errors}: its figures do not count",
                file=sys.stderr,
            )
        return 1 if failed else 0

    sys.exit(_guarded(bench))
