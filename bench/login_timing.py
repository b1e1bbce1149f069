"""Does the time of a failed sign-in tell whether an email is registered? Times POST /api/v1/auth/login
through nginx (TLS) for four kinds of failure, interleaved, one request at a time:

- ``known``: a registered email, wrong password (its hash made at the topology's BCRYPT_ROUNDS)
- ``unknown``: an email nobody registered
- ``no-password``: an account without a password (as an OAuth-only account has it)
- ``weak-hash``: a registered email whose hash was made at cost 4 (before BCRYPT_ROUNDS was raised)

Every request comes from its own loopback address and every account is tried once, so neither the
per-address limits nor the per-account lockout answer in place of the password check. The accounts are
written straight into the database (sign-up is rate limited) and removed afterwards. Prints the median,
p10 and p90 of each kind and the gap between the medians.

    ./dev bench login [--requests 20] [--state-dir D]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import time
import uuid
from pathlib import Path

import bcrypt
import httpx

from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.services.postgres import app_connection
from neurmatic.supervisor.state import TopologyState

KINDS = ("known", "unknown", "no-password", "weak-hash")
WRONG_PASSWORD = "Wrong-Password-123"  # noqa: S105 - the password every attempt gets wrong
TIME_LIMIT_SECONDS = 300.0


def _accounts(state: TopologyState, run: str, count: int, rounds: int) -> dict[str, list[str]]:
    """The emails to try, per kind; the database rows of the three registered kinds are written here."""
    hashes = {
        "known": bcrypt.hashpw(b"Some-Real-Password-1", bcrypt.gensalt(rounds=rounds)).decode(),
        "no-password": None,
        "weak-hash": bcrypt.hashpw(b"Some-Real-Password-1", bcrypt.gensalt(rounds=4)).decode(),
    }
    emails = {kind: [f"bench-{run}-{kind}-{i}@example.com" for i in range(count)] for kind in KINDS}
    with app_connection(state, 1) as conn:
        for kind, password_hash in hashes.items():
            for i, email in enumerate(emails[kind]):
                conn.execute(
                    "INSERT INTO users (id, email, username, password_hash, role, status, totp_enabled)"
                    " VALUES (%s, %s, %s, %s, 'user', 'active', false)",
                    (uuid.uuid4(), email, f"bench_{run}_{kind[:4]}_{i}", password_hash),
                )
    return emails


def _remove_accounts(state: TopologyState, run: str) -> None:
    with app_connection(state, 1) as conn:
        conn.execute("DELETE FROM users WHERE email LIKE %s", (f"bench-{run}-%",))


async def _time_one(base: str, context: ssl.SSLContext, source: str, email: str) -> tuple[int, float]:
    transport = httpx.AsyncHTTPTransport(verify=context, local_address=source)
    async with httpx.AsyncClient(transport=transport, base_url=base, timeout=30) as client:
        await client.get("/api/v1/health/live")  # the TLS handshake is not part of the figure
        started = time.perf_counter()
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": WRONG_PASSWORD})
        return response.status_code, (time.perf_counter() - started) * 1000


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(state: TopologyState, requests: int) -> int:
    rounds = int(read_env_file(state.paths.root / "app.env").get("BCRYPT_ROUNDS", "12"))
    context = ssl.create_default_context(cafile=str(state.paths.tls / "ca.pem"))
    base = f"https://{HOST}:{state.ports.https}"
    run_id = uuid.uuid4().hex[:8]
    emails = _accounts(state, run_id, requests, rounds)
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    unexpected: list[tuple[str, int]] = []
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    try:
        for i in range(requests):  # interleaved, so a slow spell of the machine hits every kind alike
            for k, kind in enumerate(KINDS):
                if time.monotonic() > deadline:
                    break
                source = f"127.31.{(i * len(KINDS) + k) // 250}.{(i * len(KINDS) + k) % 250 + 1}"
                status, elapsed = await _time_one(base, context, source, emails[kind][i])
                if status != 401:
                    unexpected.append((kind, status))
                timings[kind].append(elapsed)
    finally:
        _remove_accounts(state, run_id)
    print(f"failed sign-ins through nginx, BCRYPT_ROUNDS={rounds}, {requests} of each kind:")
    for kind in KINDS:
        values = timings[kind]
        print(
            f"  {kind:12} median {statistics.median(values):7.1f} ms   "
            f"p10 {_pct(values, 10):7.1f}   p90 {_pct(values, 90):7.1f}"
        )
    medians = [statistics.median(timings[kind]) for kind in KINDS]
    print(f"  largest gap between medians: {max(medians) - min(medians):.1f} ms")
    if unexpected:
        print(f"  answers other than 401: {unexpected}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench login", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="requests of each kind (default 20)")
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    sys.exit(asyncio.run(run(state, args.requests)))
