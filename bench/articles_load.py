"""Load on the public article list and detail, through nginx (TLS), from many loopback addresses.

Each virtual user has its own source address in 127.0.0.0/8 (all loopback), so nginx's per-client rate
limits apply per user as they would in production instead of throttling one "client" that is really the
whole benchmark. Bounded by a duration and a request count; prints requests per second, p50/p95/p99
latency and the number of non-2xx answers.

    ./dev bench articles --concurrency 200 --duration 20 [--seed 2000] [--state-dir D]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import ssl
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.bench_session import seed
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def add(self, status: int, elapsed_ms: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies_ms.append(elapsed_ms)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def source_address(index: int) -> str:
    return f"127.10.{index // 250}.{index % 250 + 1}"


async def virtual_user(
    index: int,
    base: str,
    context: ssl.SSLContext,
    slugs: list[str],
    deadline: float,
    budget: list[int],
    tally: Tally,
) -> None:
    transport = httpx.AsyncHTTPTransport(verify=context, local_address=source_address(index))
    rng = random.Random(index)
    async with httpx.AsyncClient(transport=transport, base_url=base, timeout=10) as client:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = (
                f"/api/v1/articles?page={rng.randint(1, 20)}&limit=20"
                if rng.random() < 0.4
                else f"/api/v1/articles/{rng.choice(slugs)}"
            )
            started = time.perf_counter()
            try:
                response = await client.get(path)
                tally.add(response.status_code, (time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                tally.errors += 1


async def run(state: TopologyState, concurrency: int, duration: float, max_requests: int) -> Tally:
    context = ssl.create_default_context(cafile=str(state.paths.tls / "ca.pem"))
    base = f"https://{HOST}:{state.ports.https}"
    async with httpx.AsyncClient(verify=context, base_url=base, timeout=10) as client:
        listing = await client.get("/api/v1/articles?limit=100")
    slugs = [a["slug"] for a in listing.json()["data"]]
    if not slugs:
        raise SystemExit("no published articles: run with --seed N (or `neurmatic seed`) first")
    tally, budget = Tally(), [max_requests]
    deadline = time.monotonic() + duration
    await asyncio.gather(
        *(virtual_user(i, base, context, slugs, deadline, budget, tally) for i in range(concurrency))
    )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="./dev bench articles", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (bounded)")
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0, help="seed this many articles first")
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["articles"] else sys.argv[1:])
    state_dir = resolve_state_dir(args.state_dir)
    if args.seed:
        seed(state_dir, args.seed, users=100)
    state = TopologyState.load(state_dir)
    started = time.monotonic()
    tally = asyncio.run(run(state, args.concurrency, min(args.duration, 120.0), args.max_requests))
    elapsed = time.monotonic() - started
    total = sum(tally.statuses.values()) + tally.errors
    non_2xx = sum(n for status, n in tally.statuses.items() if not 200 <= status < 300) + tally.errors
    print(f"article list+detail through nginx: {args.concurrency} connections, {elapsed:.1f}s")
    print(
        f"  requests {total}  rps {total / elapsed:.0f}  "
        f"non-2xx {non_2xx} ({100 * non_2xx / max(total, 1):.2f} %)"
        f"  statuses {dict(sorted(tally.statuses.items()))}  transport errors {tally.errors}"
    )
    lat = tally.latencies_ms
    if lat:
        print(
            f"  latency ms: p50 {_pct(lat, 50):.1f}  p95 {_pct(lat, 95):.1f}  p99 {_pct(lat, 99):.1f}  "
            f"mean {statistics.fmean(lat):.1f}"
        )


if __name__ == "__main__":
    main()
