"""``neurmatic restore``: verify first, restore beside the target, check, then swap.

Nothing is dropped before the new copy is proven: the backup is verified (gzip, completion line,
checksum), restored into ``<db>__restoring`` with stop-on-first-error in one transaction, its row counts
compared with the manifest, and only then does the target (after a safety dump) give way by renames.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.postgres import pg_binary
from neurmatic.ops.flows.backups.archive import restore_directory, unpack
from neurmatic.ops.flows.backups.dump import create_backup
from neurmatic.ops.flows.backups.errors import ArchiveError, RestoreFailed, TargetNotEmpty
from neurmatic.ops.flows.backups.files import CHUNK, Manifest, is_archive, verify_backup
from neurmatic.ops.flows.pg_access import count_rows, table_fingerprints

Step = Callable[[str], None]
_PSQL_ERROR = re.compile(r"psql:<stdin>:(\d+): (ERROR: .*)")


@dataclass(frozen=True)
class RestoreResult:
    database: str
    tables: dict[str, int]
    safety_backup: Path | None


def table_counts(target: PgTarget) -> dict[str, int]:
    with target.connect(autocommit=True) as conn:
        return count_rows(conn)


def _exists(admin: PgTarget, name: str) -> bool:
    with admin.connect(autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _admin_sql(admin: PgTarget, statement: sql.Composed) -> None:
    with admin.connect(autocommit=True) as conn:
        conn.execute(statement)


def differences(restored: dict[str, tuple[int, str]], manifest: Manifest) -> list[str]:
    """How a restored database differs from the manifest: tables missing or extra, counts, checksums."""
    found: list[str] = []
    for table in sorted(set(manifest.tables) - set(restored)):
        found.append(f"{table}: missing")
    for table in sorted(set(restored) - set(manifest.tables)):
        found.append(f"{table}: not in the backup")
    for table in sorted(set(restored) & set(manifest.tables)):
        rows, checksum = restored[table]
        if rows != manifest.tables[table]:
            found.append(f"{table}: {rows} rows, the manifest says {manifest.tables[table]}")
        elif manifest.checksums and checksum != manifest.checksums.get(table):
            found.append(f"{table}: same row count, different content (checksum)")
    return found


def _load(backup: Path, target: PgTarget, role: str, jobs: int) -> None:
    """Load the dump into ``target`` (empty), objects owned by ``role``, stopping at the first error."""
    if not is_archive(backup):
        _load_plain(backup, target, role)
        return
    workdir = backup.with_name(f".{backup.name}.unpacked")
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        restore_directory(unpack(backup, workdir), target, role, jobs)
    except ArchiveError as exc:
        raise RestoreFailed(exc.message, hint=exc.hint) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _load_plain(backup: Path, target: PgTarget, role: str) -> None:
    """Feed the dump to psql: stop at the first error, all or nothing, objects owned by ``role``."""
    argv = [
        str(pg_binary("psql")),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-f",
        "-",  # stdin read as a file: errors then carry their line number ("psql:<stdin>:LINE: ERROR:")
        "-d",
        target.conninfo,
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **target.env, "PGOPTIONS": f"-c role={role}"},
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        with gzip.open(backup, "rb") as dump:
            while chunk := dump.read(CHUNK):
                proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # psql stopped at the first error; its message follows
    finally:
        proc.stdin.close()
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        match = _PSQL_ERROR.search(stderr)
        if match is None:
            raise RestoreFailed(f"psql could not restore: {stderr.strip()[-400:]}; nothing was changed")
        raise RestoreFailed(
            f"the restore stopped at line {match.group(1)} of the dump: {match.group(2)}; "
            "nothing was changed",
            hint="the backup holds SQL this server refuses; fix it or use another backup",
        )


def restore_backup(
    backup: Path,
    *,
    admin: PgTarget,
    database: str,
    owner: str,
    yes: bool,
    safety_dir: Path,
    step: Step = lambda _m: None,
    jobs: int = 2,
) -> RestoreResult:
    step("verifying the backup")
    admin = admin.pinned()  # every connection and tool below goes to the primary of this moment
    manifest: Manifest | None = verify_backup(backup)
    target_exists = _exists(admin, database)
    if target_exists and table_counts(admin.with_db(database)) and not yes:
        raise TargetNotEmpty(
            f"{database} is not empty", hint="pass --yes to replace it (a safety dump is taken)"
        )
    staging = f"{database}__restoring"
    _admin_sql(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging)))
    _admin_sql(
        admin,
        sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
            sql.Identifier(staging), sql.Identifier(owner)
        ),
    )
    try:
        step(f"restoring into {staging}")
        _load(backup, admin.with_db(staging), owner, jobs)
        step("comparing tables, row counts and checksums with the manifest")
        with admin.with_db(staging).connect(autocommit=True) as conn:
            fingerprints = table_fingerprints(conn, checksums=bool(manifest and manifest.checksums))
        restored = {table: rows for table, (rows, _) in fingerprints.items()}
        mismatches = differences(fingerprints, manifest) if manifest is not None else []
        if mismatches:
            raise RestoreFailed(
                f"the restored database differs from the manifest: {'; '.join(mismatches[:5])}",
                hint="nothing was changed; the backup does not hold what its manifest says",
            )
    except BaseException:
        _admin_sql(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging)))
        raise
    safety = None
    if target_exists:
        step(f"safety dump of {database}")
        safety, _ = create_backup(admin.with_db(database), safety_dir)
        retired = f"{database}__before_{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
        step(f"disconnecting writers and swapping {database}")
        with admin.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(database))
            )
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                (database,),
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(database), sql.Identifier(retired)
                )
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(staging), sql.Identifier(database)
                )
            )
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(retired)))
    else:
        _admin_sql(
            admin,
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(staging), sql.Identifier(database)
            ),
        )
    return RestoreResult(database, restored, safety)
