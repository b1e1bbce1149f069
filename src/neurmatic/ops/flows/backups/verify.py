"""The guide's monthly restore test as one step: restore into a scratch database, compare, drop it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.ops.flows.backups.restore import RestoreResult, Step, restore_backup


def verify_by_restore(
    backup: Path, *, admin: PgTarget, owner: str, safety_dir: Path, step: Step, jobs: int = 2
) -> RestoreResult:
    """Restore ``backup`` into a fresh scratch database (table list, row counts and checksums compared
    with the manifest by the restore itself), then drop it whatever happened."""
    scratch = f"neurmatic_verify_{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
    try:
        return restore_backup(
            backup,
            admin=admin,
            database=scratch,
            owner=owner,
            yes=False,
            safety_dir=safety_dir,
            step=step,
            jobs=jobs,
        )
    finally:
        with admin.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
