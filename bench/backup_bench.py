"""``./dev bench backup [--size-gb 1.0] [--jobs 2] [--state-dir D] [--keep] [--pgbackrest-option=--X=Y]``

Backup and restore of a seeded database of at least ``--size-gb`` against the guide's own commands,
in the same run, on the same server:

- baseline backup: ``pg_dump | gzip -9``; baseline restore: ``gunzip | psql``;
- ours: ``neurmatic backup`` (plain .sql.gz, with per-table checksums) and ``--format directory``
  (pg_dump -j, zstd), restored by the restore flow (verification, checksum comparison included);
- physical: a full pgBackRest backup as ``neurmatic backup --physical --type full`` takes one, with the
  topology's configuration (zstd, bundling, encryption, process-max; ``--pgbackrest-option`` adds to
  it), and a restore of it into a scratch data directory beside the live node (never over it).

pgBackRest copies the whole cluster, so the physical backup covers the cluster that holds the seeded
database (the application's database and the others too): the seeded database's size and each of the
cluster's are printed, and the physical rows' MB/s are the cluster's. Its size is what the backup takes
in the repository plus the archived WAL it needs to become consistent. Its restore is timed from the
start of ``pgbackrest restore --type=immediate --target-action=promote`` until the restored server,
started on a loopback port of its own, has replayed the backup's WAL to consistency and promoted (takes
writes); both parts are printed. Then (not timed) the restored seeded tables' row counts are compared
with the source's, and the scratch cluster is stopped and removed. Unlike the restores into the live
cluster, the scratch one is not replicated to a standby (a recovery swapped in rebuilds the standby
after).

The physical backup goes into the topology's own repository, annotated ``neurmatic-bench``, with
pgBackRest's automatic expire after it turned off (the bench changes nothing of the repository's
retention), and is expired again at the end by its label alone (``expire --set``, retention held at its
maximum meanwhile, so no other backup or archived WAL goes with it). A repository of the bench's own
would not do: a backup waits for its WAL to reach its repository's archive, and the live nodes archive
into the topology's. The bench refuses to run while the repository holds no full backup of its own
(pgBackRest never expires the last one); a run killed outright leaves its annotated backup behind, for
``pgbackrest expire --set``.

It works in databases of its own (``neurmatic_bench_*``) on the running topology's primary, never in
``neurmatic_production``, and drops them at the end unless ``--keep``. Before the first backup, the
physical one and each restore, the primary checkpoints and its WAL so far is archived: no timed command
shares the machine with the flushing and archiving of what came before it. Everything is bounded: the
seed stops at the size asked for, every command has a time limit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from psycopg import sql

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.pgbackrest import BackupSet, PgBackRest
from neurmatic.adapters.postgres import pg_binary
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.ops.flows.backups.dump import BackupOptions, create_backup
from neurmatic.ops.flows.backups.physical import archive_current_wal, take_backup
from neurmatic.ops.flows.backups.pitr import check_cluster, lsn_value
from neurmatic.ops.flows.backups.restore import restore_backup
from neurmatic.ops.flows.backups.scratch import ScratchCluster
from neurmatic.render.pgbackrest import STANZA
from neurmatic.supervisor.archive_control import LocalArchive
from neurmatic.supervisor.layout import HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState

SEED_DB = "neurmatic_bench_source"
SEEDED_TABLES = ("public.articles", "public.comments")  # what the physical restore's check compares
COMMAND_TIMEOUT = 1800
ROWS_PER_BATCH = 200_000
BENCH_ANNOTATION = "neurmatic-bench=taken and expired by ./dev bench backup"
WAL_SEGMENT_BYTES = 16 * 1024 * 1024  # PostgreSQL's default; the topology's initdb keeps it
# pgBackRest's settings the figures depend on, as the node's configuration file has them.
SHOWN_SETTINGS = ("compress-type", "compress-level", "process-max", "repo1-bundle", "repo1-cipher-type")

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


@dataclass(frozen=True)
class Row:
    """One timed command. ``covers``: the bytes of database it backed up or restored (the seeded
    database, or the whole cluster for pgBackRest); ``written``: a backup's size (0 for a restore)."""

    label: str
    seconds: float
    covers: int
    written: int = 0

    @property
    def is_backup(self) -> bool:
        return self.label.startswith("backup")


def _step(message: str) -> None:
    print(f"  {message}", flush=True)


def _superuser_password(state: TopologyState) -> str:
    return state.secrets["POSTGRES_SUPERUSER_PASSWORD"]


def _admin(state: TopologyState) -> PgTarget:
    hosts = tuple((HOST, state.ports.postgres(i)) for i in (1, 2))
    return PgTarget(hosts, SUPERUSER, _superuser_password(state), "postgres")


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


def _settle(admin: PgTarget) -> None:
    """A checkpoint, then the primary's WAL so far archived: the next command is timed without the
    flushing and the (compressing, encrypting) archiving of what the previous one wrote."""
    with admin.connect(autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    archive_current_wal(admin, None, timeout=COMMAND_TIMEOUT)


def _row_counts(target: PgTarget) -> dict[str, int]:
    counts: dict[str, int] = {}
    with target.connect(autocommit=True) as conn:
        for table in SEEDED_TABLES:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
            row = conn.execute(query).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def _require_own_full_backup(tool: PgBackRest) -> None:
    """pgBackRest keeps the last full backup whatever it is asked: the bench's must not be the only one."""
    if not any(b.type == "full" and not b.error for b in tool.info().backups):
        raise SystemExit(
            "the topology's pgBackRest repository holds no full backup of its own "
            "(`neurmatic backup --physical --type full` takes one): the bench's could not be expired"
        )


def physical_backup(tool: PgBackRest, options: list[str]) -> tuple[BackupSet, float]:
    """A full backup as ``neurmatic backup --physical`` takes it (with pgBackRest's ``options`` on top of
    the configuration), annotated and kept out of the retention's expire (the repository's own backups
    stay as they are); it, and its seconds."""
    started = time.perf_counter()
    made = take_backup(tool, "full", _step, "--no-expire-auto", f"--annotation={BENCH_ANNOTATION}", *options)
    return made[0], time.perf_counter() - started  # repository 1 (the bench's topology has no S3)


def _wal_bytes(state: TopologyState, backup: BackupSet) -> int:
    """What the archived WAL segments ``backup`` needs to become consistent take in the repository."""
    first, last = (lsn_value(lsn) // WAL_SEGMENT_BYTES for lsn in (backup.lsn_start, backup.lsn_stop))
    names = {f"{n >> 8:08X}{n & 0xFF:08X}" for n in range(first, last + 1)}  # 256 segments a log file
    archive = state.paths.pgbackrest_repo / "archive" / STANZA
    return sum(f.stat().st_size for f in archive.glob("*/*/*") if f.name[8:24] in names)


def _start_until_promoted(scratch: ScratchCluster) -> None:
    scratch.start()
    scratch.await_promoted(COMMAND_TIMEOUT)


def physical_restore(
    state: TopologyState, tool: PgBackRest, backup: BackupSet
) -> tuple[float, float, dict[str, int]]:
    """Restore ``backup`` into a scratch directory (never a live node's) and start it until it is
    consistent and promoted: pgbackrest restore's seconds, the start's, and the seeded tables' row
    counts there. The scratch cluster is then stopped and removed."""
    data_dir = LocalArchive(state).scratch_dir(f"bench-{backup.label}") / "data"
    scratch = ScratchCluster(data_dir, _superuser_password(state), state.account.name, env=tool.env)
    options = [f"--set={backup.label}", "--type=immediate", "--target-action=promote"]
    try:
        restoring = _timed(partial(tool.restore, data_dir, options))
        starting = _timed(partial(_start_until_promoted, scratch))
        tables, _ = check_cluster(scratch, SEED_DB)
    finally:
        scratch.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    return restoring, starting, {table: tables.get(table, -1) for table in SEEDED_TABLES}


def _settings(config: Path, options: list[str]) -> str:
    """SHOWN_SETTINGS as the backup had them: the node's configuration file, then ``options``."""
    lines = [*config.read_text().splitlines(), *(option.removeprefix("--") for option in options)]
    found = {
        key.strip(): value.strip() for key, value in (line.split("=", 1) for line in lines if "=" in line)
    }
    return " ".join(f"{key}={found.get(key, '(default)')}" for key in SHOWN_SETTINGS)


def _databases(admin: PgTarget) -> str:
    """The cluster's databases and their sizes, largest first (what a physical backup copies)."""
    with admin.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, pg_database_size(datname) FROM pg_database WHERE datallowconn ORDER BY 2 DESC"
        ).fetchall()
    return ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in rows)


def logical_backups(source: PgTarget, work: Path, size: int, jobs: int) -> tuple[list[Row], list[Path]]:
    """The guide's ``pg_dump | gzip -9``, then ``neurmatic backup`` plain and directory: their rows and
    files, in that order."""
    baseline = work / "baseline.sql.gz"
    _step("pg_dump | gzip -9")
    dump = f"{pg_binary('pg_dump')} -d '{source.conninfo}' | gzip -9 > {baseline}"
    seconds = _timed(partial(_shell, dump, source))
    rows = [Row("backup  pg_dump | gzip -9 (guide)", seconds, size, baseline.stat().st_size)]
    _step("neurmatic backup (plain, then directory)")
    plain_path, plain = create_backup(source, work, options=BackupOptions("plain"))
    rows.append(Row("backup  neurmatic backup (plain, checksums)", plain.duration_seconds, size, plain.size))
    fast_path, fast = create_backup(
        source, work, options=BackupOptions("directory", "zstd", jobs), name="neurmatic_fast.dir.tar.zst"
    )
    label = f"backup  neurmatic backup --format directory -j{jobs}"
    rows.append(Row(label, fast.duration_seconds, size, fast.size))
    return rows, [baseline, plain_path, fast_path]


def physical_rows(
    state: TopologyState, tool: PgBackRest, backup: BackupSet, seconds: float, options: list[str]
) -> tuple[list[Row], list[str]]:
    """The bench's physical ``backup`` (taken in ``seconds`` with ``options``), restored and checked
    against the source: its two rows and the notes that explain them."""
    databases = _databases(_admin(state))  # what the backup copied: no restore has added its own yet
    wal = _wal_bytes(state, backup)
    _step(f"pgbackrest restore of {backup.label} into a scratch directory, started until consistent")
    restoring, starting, counts = physical_restore(state, tool, backup)
    expected = _row_counts(_admin(state).with_db(SEED_DB))
    if counts != expected:
        raise SystemExit(f"the physical restore's rows differ from the source's: {counts} != {expected}")
    rows = [
        Row("backup  pgbackrest full (whole cluster)", seconds, backup.size, backup.repo_size + wal),
        Row("restore pgbackrest restore + start to consistent (cluster)", restoring + starting, backup.size),
    ]
    notes = [
        f"the cluster pgBackRest copied: {backup.size / 1e9:.2f} GB of files ({databases})",
        f"pgbackrest backup {backup.label}: {backup.repo_size / 1e6:.1f} MB in the repository + "
        f"{wal / 1e3:.0f} kB of archived WAL it needs to become consistent (both counted as its size)",
        f"pgbackrest restore {restoring:.1f}s + server start, WAL replay to consistent, promoted "
        f"{starting:.1f}s; restored rows match the source's ({_listed(counts)})",
        f"pgBackRest's settings: {_settings(tool.config, options)}",
    ]
    return rows, notes


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {rows:,}" for table, rows in counts.items())


def _restore_logical(
    admin: PgTarget, files: list[Path], databases: list[str], work: Path, size: int, jobs: int
) -> list[Row]:
    """The guide's ``gunzip | psql``, then the restore flow for the plain and the directory backup, each
    into a new database of its own."""
    baseline, plain_path, fast_path = files
    _recreate(admin, databases[0])
    target = admin.with_db(databases[0])
    _step("gunzip | psql")
    load = f"gunzip -c {baseline} | {pg_binary('psql')} -X -q -o /dev/null -d '{target.conninfo}'"
    rows = [Row("restore gunzip | psql (guide)", _timed(partial(_shell, load, target)), size)]
    for name, path, label in (
        (databases[1], plain_path, "restore neurmatic restore (plain, verified)"),
        (databases[2], fast_path, f"restore neurmatic restore (directory -j{jobs}, verified)"),
    ):
        _settle(admin)
        _step(label.removeprefix("restore "))
        restore = partial(
            restore_backup,
            path,
            admin=admin,
            database=name,
            owner=SUPERUSER,
            yes=False,
            safety_dir=work,
            jobs=jobs,
        )
        rows.append(Row(label, _timed(restore), size))
    return rows


def run(state: TopologyState, size_gb: float, jobs: int, keep: bool, options: list[str]) -> None:
    admin = _admin(state)
    tool = LocalArchive(state).pgbackrest()
    _require_own_full_backup(tool)
    print(f"seeding {SEED_DB} to {size_gb:g} GB …", flush=True)
    seed_seconds = time.perf_counter()
    size = seed(admin, int(size_gb * 1e9))
    print(f"database size {size / 1e9:.2f} GB (seeded in {time.perf_counter() - seed_seconds:.0f}s)\n")
    restored = ["neurmatic_bench_baseline", "neurmatic_bench_plain", "neurmatic_bench_directory"]
    work = Path(tempfile.mkdtemp(prefix="neurmatic-bench-backup-"))
    for name in restored:
        _drop(admin, name)  # left by an earlier --keep run
    bench_set: BackupSet | None = None
    try:
        _settle(admin)  # the seed's WAL archived before anything is timed
        rows, files = logical_backups(admin.with_db(SEED_DB), work, size, jobs)
        # Before any restore adds databases to the cluster: the physical backup copies all of it.
        _settle(admin)
        bench_set, seconds = physical_backup(tool, options)
        physical, notes = physical_rows(state, tool, bench_set, seconds, options)
        _settle(admin)
        rows += [physical[0], *_restore_logical(admin, files, restored, work, size, jobs), physical[1]]
    finally:
        if bench_set is not None:
            tool.expire(backup=bench_set.label)
            _step(f"pgbackrest backup {bench_set.label} expired (expire --set)")
        shutil.rmtree(work, ignore_errors=True)
        for name in [] if keep else [*restored, SEED_DB]:
            _drop(admin, name)
    _print(rows, [f"seeded database {size / 1e9:.2f} GB", *notes])


def _print(rows: list[Row], notes: list[str]) -> None:
    base_backup = next(row for row in rows if row.is_backup)  # the guide's: the first of each kind
    base_restore = next(row for row in rows if not row.is_backup)
    print(f"\n{'what':58} {'seconds':>8} {'MB':>9} {'MB/s':>7} {'time vs guide':>14} {'size vs guide':>14}")
    for row in rows:
        base = base_backup if row.is_backup else base_restore
        size_ratio = f"{row.written / base_backup.written:.2f}x" if row.written else ""
        print(
            f"{row.label:58} {row.seconds:8.1f} {row.written / 1e6:9.1f} "
            f"{row.covers / 1e6 / row.seconds:7.1f} {row.seconds / base.seconds:13.2f}x {size_ratio:>14}"
        )
    print("(MB/s: the database bytes covered / seconds; a ratio below 1 is faster or smaller)")
    for note in notes:
        print(f"- {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench backup", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the seeded and restored databases.")
    parser.add_argument(
        "--pgbackrest-option",
        action="append",
        default=[],
        metavar="--NAME=VALUE",
        help="A pgBackRest option for the bench's backup, over the topology's configuration "
        "(repeatable; e.g. --pgbackrest-option=--compress-level=1).",
    )
    args = parser.parse_args(argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    run(state, args.size_gb, args.jobs, args.keep, args.pgbackrest_option)
