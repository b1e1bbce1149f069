"""What a benchmark needs before it measures: the issue's dataset, and a signed-in bench account.

The account is one account reused across runs (sign-up is rate limited per address). Sign-in and sign-up
go to backend-1 directly, each from a fresh 10.250.x.y client address (X-Forwarded-For, trusted from
127.0.0.1 as from nginx), so the per-address sign-in limit (10 per 15 minutes) never refuses a run.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import psycopg

from bench import BenchError
from bench.express_peer import primary_database_url
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState

SEED_ARTICLES = 2000
SEED_USERS = 50
BENCH_EMAIL = "bench-api@example.com"
BENCH_USERNAME = "bench_api"
BENCH_PASSWORD = "Wrk-Throughput-Probe-2026!"  # noqa: S105 - the bench account's, on a local topology


def published_articles(state: TopologyState) -> int:
    with psycopg.connect(primary_database_url(state), connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM articles WHERE status = 'published'").fetchone()
    return int(row[0]) if row else 0


def seed(state_dir: Path, articles: int, *, users: int) -> None:
    """``neurmatic seed`` into the topology of ``state_dir``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "neurmatic",
            "seed",
            "--articles",
            str(articles),
            "--users",
            str(users),
            "--state-dir",
            str(state_dir),
        ],
        check=True,
        timeout=600,
    )


def ensure_seeded(state: TopologyState, state_dir: Path, progress: Callable[[str], None]) -> None:
    """At least the issue's 2,000 published articles (``neurmatic seed --articles 2000 --users 50``)."""
    have = published_articles(state)
    if have < SEED_ARTICLES:
        progress(f"seeding {SEED_ARTICLES - have} articles and {SEED_USERS} users ({have} published)")
        seed(state_dir, SEED_ARTICLES - have, users=SEED_USERS)


def _post(client: httpx.Client, path: str, body: Mapping[str, object]) -> httpx.Response:
    address = f"10.250.{random.randint(0, 249)}.{random.randint(1, 250)}"
    return client.post(path, json=body, headers={"X-Forwarded-For": address})


@contextlib.contextmanager
def bench_token(state: TopologyState, progress: Callable[[str], None]) -> Iterator[str]:
    """An access token of the bench account (registered on first use), signed out afterwards."""
    with httpx.Client(base_url=f"http://{HOST}:{state.ports.api(1)}/api/v1", timeout=30) as client:
        credentials = {"email": BENCH_EMAIL, "password": BENCH_PASSWORD}
        response = _post(client, "/auth/login", credentials)
        if response.status_code == 401:
            progress(f"registering the bench account {BENCH_EMAIL}")
            registered = _post(
                client, "/auth/register", {**credentials, "username": BENCH_USERNAME, "termsAccepted": True}
            )
            if registered.status_code != 201:
                raise BenchError(f"cannot register {BENCH_EMAIL}: {registered.status_code} {registered.text}")
            response = _post(client, "/auth/login", credentials)
        if response.status_code != 200:
            raise BenchError(f"cannot sign in as {BENCH_EMAIL}: {response.status_code} {response.text}")
        token = str(response.json()["data"]["accessToken"])
        try:
            yield token
        finally:
            client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
