"""What the load scenario needs from the topology, gathered before the run and removed after it.

- the published articles, categories and tags users pick from (the database must be seeded:
  ``neurmatic seed --articles 2000 --users 50``);
- the members' accounts: written straight into the database (sign-up is limited to 5 an hour per address),
  hashed once at the topology's BCRYPT_ROUNDS so a sign-in costs what it costs in production, each with a
  few notifications to read. They are named ``load-<run>-<n>@example.com`` and deleted afterwards with
  everything they made (the foreign keys cascade; their articles are drafts, never in the public cache).
"""

from __future__ import annotations

import math
import secrets
import uuid
from pathlib import Path

import bcrypt

from bench.load.scenario import Scenario
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.services.postgres import app_connection
from neurmatic.supervisor.state import TopologyState

MIN_ARTICLES = 100
NOTIFICATIONS_PER_ACCOUNT = 5
# Words of the seeded titles (neurmatic.ops.flows.seed), and one that matches nothing.
SEARCH_TERMS = ("quantization", "agents", "decoding", "retrieval", "lora", "embedding", "guardrails")
SEARCH_MISS = "zeppelin"


class NotSeeded(SystemExit):
    pass


def accounts_needed(users: int, member_percent: int, processes: int) -> int:
    """Enough for every member even when Locust's share per process rounds up."""
    return math.ceil(users * member_percent / 100) + 2 * processes + 2


def prepare(
    state: TopologyState,
    out: Path,
    *,
    accounts: int,
    max_requests: int,
    processes: int,
) -> tuple[Path, str]:
    """Write the scenario file under ``out``; returns its path and the run's id (for :func:`cleanup`)."""
    run = uuid.uuid4().hex[:8]
    password = f"Load-{secrets.token_urlsafe(12)}"
    rounds = int(read_env_file(state.paths.app_env_file).get("BCRYPT_ROUNDS", "12"))
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    with app_connection(state, 1) as conn:
        slugs = [
            row[0]
            for row in conn.execute(
                "SELECT slug FROM articles WHERE status = 'published' ORDER BY random() LIMIT 1000"
            )
        ]
        if len(slugs) < MIN_ARTICLES:
            raise NotSeeded(
                f"only {len(slugs)} published articles: seed first "
                f"(neurmatic seed --articles 2000 --users 50 --state-dir {state.paths.root})"
            )
        categories = [row[0] for row in conn.execute("SELECT slug FROM categories ORDER BY slug")]
        tags = [row[0] for row in conn.execute("SELECT slug FROM tags ORDER BY slug LIMIT 50")]
        emails = [f"load-{run}-{i}@example.com" for i in range(accounts)]
        with conn.transaction():
            for i, email in enumerate(emails):
                user_id = uuid.uuid4()
                conn.execute(
                    "INSERT INTO users (id, email, username, password_hash, role, status, totp_enabled,"
                    " email_verified_at, terms_accepted_at)"
                    " VALUES (%s, %s, %s, %s, 'user', 'active', false, now(), now())",
                    (user_id, email, f"load_{run}_{i}", password_hash),
                )
                for n in range(NOTIFICATIONS_PER_ACCOUNT):
                    conn.execute(
                        "INSERT INTO notifications (id, user_id, kind, title, body, data)"
                        " VALUES (%s, %s, 'system', %s, %s, '{}')",
                        (uuid.uuid4(), user_id, f"Welcome note {n}", "Seeded for the load test."),
                    )
    scenario = Scenario(
        ca_file=str(state.paths.tls / "ca.pem"),
        slugs=slugs,
        categories=categories,
        tags=tags,
        search_terms=[*SEARCH_TERMS, SEARCH_MISS],
        accounts=emails,
        password=password,
        max_requests=max_requests,
        processes=processes,
    )
    path = out / "scenario.json"
    scenario.write(path)
    return path, run


def cleanup(state: TopologyState, run: str) -> int:
    """Delete the run's accounts and all they made; returns how many accounts went."""
    with app_connection(state, 1) as conn:
        cursor = conn.execute("DELETE FROM users WHERE email LIKE %s", (f"load-{run}-%",))
        return cursor.rowcount
