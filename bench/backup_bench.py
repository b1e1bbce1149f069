"""``./dev bench backup [--size-gb 1.0] [--jobs 2] [--state-dir D] [--keep]``

Backup and restore of a seeded database of at least ``--size-gb`` against the guide's own commands,
in the same run, on the same server:

- baseline backup: ``pg_dump | gzip -9``; baseline restore: ``gunzip | psql``;
- ours: ``neurmatic backup`` (plain .sql.gz, with per-table checksums) and ``--format directory``
  (pg_dump -j, zstd), restored by the restore flow (verification, checksum comparison included).

It works in databases of its own (``neurmatic_bench_*``) on the running topology's primary, never in
``neurmatic_production``, and drops them at the end unless ``--keep``. Everything is bounded: the seed
stops at the size asked for, every command has a time limit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from psycopg import sql

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.postgres import pg_binary
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.ops.flows.backups.dump import BackupOptions, create_backup
from neurmatic.ops.flows.backups.restore import restore_backup
from neurmatic.supervisor.layout import HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState

SEED_DB = "neurmatic_bench_source"
COMMAND_TIMEOUT = 1800
ROWS_PER_BATCH = 200_000

# ~1 KB of text per row, drawn from 20,000 paragraphs of pseudo-words so that compression meets
# something like prose: repeated vocabulary, no repetition within a row, none at short distance.
SEED_SQL = (
    "CREATE TABLE paragraphs AS SELECT g AS n, (SELECT string_agg(substr(md5(((g * 31 + w * 17) % 5000)"
    "::text), 1, 3 + ((g * 31 + w * 17) % 5000) % 8), ' ') FROM generate_series(1, 140) AS w) AS body "
    "FROM generate_series(0, 19999) AS g",
    "CREATE TABLE articles (id bigserial PRIMARY KEY, title text NOT NULL, body text NOT NULL, "
    "author_id int NOT NULL, views int NOT NULL, created_at timestamptz NOT NULL)",
    "CREATE TABLE comments (id bigserial PRIMARY KEY, article_id bigint NOT NULL REFERENCES articles(id), "
    "body text NOT NULL, created_at timestamptz NOT NULL)",
)
BATCH_SQL = (
    "INSERT INTO articles (title, body, author_id, views, created_at) "
    "SELECT 'Article ' || i || ' ' || md5(i::text), p.body || ' ' || md5(i::text), i %% 5000, "
    "(i * 7919) %% 100000, '2026-01-01'::timestamptz + (i || ' seconds')::interval "
    "FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i "
    "JOIN paragraphs p ON p.n = (i * 7919) %% 20000"
)
COMMENTS_SQL = (
    "INSERT INTO comments (article_id, body, created_at) SELECT id, left(body, 200), created_at "
    "FROM articles WHERE id %% 3 = 0 AND id BETWEEN %(start)s AND %(stop)s"
)
INDEX_SQL = (
    "CREATE INDEX articles_created_at ON articles (created_at)",
    "CREATE INDEX comments_article ON comments (article_id)",
    "DROP TABLE paragraphs",
    "VACUUM ANALYZE",
)


def _admin(state: TopologyState) -> PgTarget:
    hosts = tuple((HOST, state.ports.postgres(i)) for i in (1, 2))
    return PgTarget(hosts, SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], "postgres")


def _database_size(admin: PgTarget, name: str) -> int:
    with admin.connect(autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
        return int(row[0]) if row else 0


def _recreate(admin: PgTarget, name: str) -> None:
    with admin.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def _drop(admin: PgTarget, name: str) -> None:
    with admin.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed(admin: PgTarget, size_bytes: int) -> int:
    """Fill SEED_DB until it holds ``size_bytes`` (tables and indexes); its final size."""
    _recreate(admin, SEED_DB)
    target = admin.with_db(SEED_DB)
    with target.connect(autocommit=True) as conn:
        for statement in SEED_SQL:
            conn.execute(statement)
        start = 1
        # Indexes come last and add about 5 %; stop the rows a little short of the target.
        while _database_size(admin, SEED_DB) < size_bytes * 0.97:
            stop = start + ROWS_PER_BATCH - 1
            conn.execute(BATCH_SQL, {"start": start, "stop": stop})
            conn.execute(COMMENTS_SQL, {"start": start, "stop": stop})
            print(f"  seeded {stop:,} articles: {_database_size(admin, SEED_DB) / 1e9:.2f} GB", flush=True)
            start = stop + 1
        for statement in INDEX_SQL:
            conn.execute(statement)
    return _database_size(admin, SEED_DB)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _shell(command: str, target: PgTarget) -> None:
    """Run one of the guide's pipelines (password in the environment, never on the command line)."""
    subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        check=True,
        timeout=COMMAND_TIMEOUT,
        env={**os.environ, **target.env},
    )


def run(state: TopologyState, size_gb: float, jobs: int, keep: bool) -> None:
    admin = _admin(state)
    print(f"seeding {SEED_DB} to {size_gb:g} GB …", flush=True)
    seed_seconds = time.perf_counter()
    size = seed(admin, int(size_gb * 1e9))
    print(f"database size {size / 1e9:.2f} GB (seeded in {time.perf_counter() - seed_seconds:.0f}s)\n")
    source = admin.with_db(SEED_DB)
    pg_dump, psql = pg_binary("pg_dump"), pg_binary("psql")
    restored = ["neurmatic_bench_baseline", "neurmatic_bench_plain", "neurmatic_bench_directory"]
    work = Path(tempfile.mkdtemp(prefix="neurmatic-bench-backup-"))
    for name in restored:
        _drop(admin, name)  # left by an earlier --keep run
    rows: list[tuple[str, float, int]] = []
    try:
        baseline = work / "baseline.sql.gz"
        seconds = _timed(lambda: _shell(f"{pg_dump} -d '{source.conninfo}' | gzip -9 > {baseline}", source))
        rows.append(("backup  pg_dump | gzip -9 (guide)", seconds, baseline.stat().st_size))
        plain_path, plain = create_backup(source, work, options=BackupOptions("plain"))
        rows.append(("backup  neurmatic backup (plain, checksums)", plain.duration_seconds, plain.size))
        fast_path, fast = create_backup(
            source, work, options=BackupOptions("directory", "zstd", jobs), name="neurmatic_fast.dir.tar.zst"
        )
        rows.append(
            (f"backup  neurmatic backup --format directory -j{jobs}", fast.duration_seconds, fast.size)
        )

        _recreate(admin, restored[0])
        target = admin.with_db(restored[0])
        seconds = _timed(
            lambda: _shell(f"gunzip -c {baseline} | {psql} -X -q -o /dev/null -d '{target.conninfo}'", target)
        )
        rows.append(("restore gunzip | psql (guide)", seconds, 0))
        for name, path, label in (
            (restored[1], plain_path, "restore neurmatic restore (plain, verified)"),
            (restored[2], fast_path, f"restore neurmatic restore (directory -j{jobs}, verified)"),
        ):
            seconds = _timed(
                partial(
                    restore_backup,
                    path,
                    admin=admin,
                    database=name,
                    owner=SUPERUSER,
                    yes=False,
                    safety_dir=work,
                    jobs=jobs,
                )
            )
            rows.append((label, seconds, 0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for name in [] if keep else [*restored, SEED_DB]:
            _drop(admin, name)
    _print(rows, size)


def _print(rows: list[tuple[str, float, int]], size: int) -> None:
    base_backup, base_restore = rows[0], rows[3]
    print(f"{'what':58} {'seconds':>8} {'MB':>9} {'MB/s':>7} {'time vs guide':>14} {'size vs guide':>14}")
    for label, seconds, written in rows:
        base = base_backup if label.startswith("backup") else base_restore
        size_ratio = f"{written / base_backup[2]:.2f}x" if written else ""
        print(
            f"{label:58} {seconds:8.1f} {written / 1e6 if written else 0:9.1f} {size / 1e6 / seconds:7.1f} "
            f"{seconds / base[1]:13.2f}x {size_ratio:>14}"
        )
    print(f"(MB/s: database size {size / 1e9:.2f} GB / seconds; a ratio below 1 is faster or smaller)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench backup", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the seeded and restored databases.")
    args = parser.parse_args(argv)
    run(TopologyState.load(resolve_state_dir(args.state_dir)), args.size_gb, args.jobs, args.keep)
