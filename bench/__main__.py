"""``./dev bench [health|replication|all] [--state-dir D] [--requests N] [--concurrency C]``, and
``./dev bench articles ...`` (see bench/articles_load.py), ``./dev bench backup ...`` (bench/backup_bench.py),
``./dev bench login ...`` (bench/login_timing.py), ``./dev bench api ...`` (bench/api_bench.py: one API
process against the Express peer), ``./dev bench floors`` (what uvicorn and a Redis round trip cost here),
``./dev bench load ...`` (the guide's Locust scenario, bench/load_test.py), ``./dev bench ha ...`` (the
PostgreSQL HA drills, each run three times: bench/ha_drills.py), ``./dev bench web`` (the web client's
JavaScript size and list render time in Chromium: bench/web_bench.py).

Runs against a topology that is already up (``./dev up``); only 127.0.0.1 is ever contacted, and every
loop is bounded by a request count and a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ssl
import statistics
import sys
import time
from pathlib import Path

import httpx
import psycopg

from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.services.postgres import app_connection
from neurmatic.supervisor.state import TopologyState

TIME_LIMIT_SECONDS = 60.0


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _report(name: str, latencies_ms: list[float], errors: int, elapsed: float) -> None:
    total = len(latencies_ms) + errors
    print(
        f"{name}: {total} requests in {elapsed:.2f}s = {total / elapsed:.0f} req/s, errors {errors} "
        f"({100 * errors / max(total, 1):.2f} %)"
    )
    if latencies_ms:
        print(
            f"  latency ms: p50 {_percentile(latencies_ms, 50):.2f}  "
            f"p95 {_percentile(latencies_ms, 95):.2f}  p99 {_percentile(latencies_ms, 99):.2f}  "
            f"max {max(latencies_ms):.2f}  "
            f"mean {statistics.fmean(latencies_ms):.2f}"
        )


async def bench_http(state: TopologyState, path: str, requests: int, concurrency: int) -> None:
    """GET ``path`` through nginx (TLS, verified against the local CA) with ``concurrency`` clients."""
    context = ssl.create_default_context(cafile=str(state.paths.tls / "ca.pem"))
    url = f"https://{HOST}:{state.ports.https}{path}"
    latencies: list[float] = []
    errors = 0
    remaining = requests
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(verify=context, limits=limits, timeout=10) as client:

        async def one_client() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        _report(
            f"GET {path} through nginx, concurrency {concurrency}",
            latencies,
            errors,
            time.monotonic() - started,
        )


def bench_replication(state: TopologyState, samples: int) -> None:
    """Time from COMMIT on the primary until the row is visible on the standby."""

    def connect(index: int) -> psycopg.Connection[tuple[object, ...]]:
        return app_connection(state, index)

    delays: list[float] = []
    with connect(1) as primary, connect(2) as standby:
        for i in range(samples):
            marker = f"bench-{time.time_ns()}-{i}"
            primary.execute("INSERT INTO system_events (kind, source) VALUES ('bench', %s)", (marker,))
            committed = time.perf_counter()
            while not standby.execute("SELECT 1 FROM system_events WHERE source = %s", (marker,)).fetchone():
                if time.perf_counter() - committed > 5:
                    break
            delays.append((time.perf_counter() - committed) * 1000)
        primary.execute("DELETE FROM system_events WHERE kind = 'bench'")
    print(
        f"replication visibility over {samples} commits: p50 {_percentile(delays, 50):.2f} ms  "
        f"p95 {_percentile(delays, 95):.2f} ms  max {max(delays):.2f} ms"
    )


# ``./dev bench NAME ...``: the module whose ``main(argv)`` runs it (imported only when asked for).
SUBCOMMANDS = {
    "load": "bench.load_test",
    "login": "bench.login_timing",
    "api": "bench.api_bench",
    "floors": "bench.floors",
    "backup": "bench.backup_bench",
    "ha": "bench.ha_drills",
    "web": "bench.web_bench",
}


def main() -> None:
    if sys.argv[1:2] == ["articles"]:
        from bench.articles_load import main as articles_main

        articles_main()  # reads sys.argv itself
        return
    if sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
        importlib.import_module(SUBCOMMANDS[sys.argv[1]]).main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__)
    parser.add_argument("what", nargs="?", default="all", choices=["health", "live", "replication", "all"])
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    if args.what in ("live", "all"):
        asyncio.run(bench_http(state, "/api/v1/health/live", args.requests, args.concurrency))
    if args.what in ("health", "all"):
        asyncio.run(bench_http(state, "/api/v1/health", min(args.requests, 500), min(args.concurrency, 10)))
    if args.what in ("replication", "all"):
        bench_replication(state, args.samples)


if __name__ == "__main__":
    main()
