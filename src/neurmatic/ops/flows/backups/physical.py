"""Physical backups and the WAL archive, through pgBackRest: take one, and say what can be recovered.

The recoverable range starts where the oldest backup became consistent (its stop) and ends at the last
WAL the archive holds; before a recovery the primary closes its current WAL segment and waits until it
is archived, so "the latest" includes every commit made before the recovery began.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.pgbackrest import BackupSet, PgBackRest, StanzaInfo
from neurmatic.deployment.archive import Step
from neurmatic.ops.flows.backups.errors import BackupFailed, RestoreFailed

BACKUP_TYPES = ("full", "diff", "incr")
ARCHIVE_WAIT_SECONDS = 60.0


def take_backup(tool: PgBackRest, kind: str, step: Step, *options: str) -> list[BackupSet]:
    """A ``kind`` backup into each repository pgBackRest is configured with (local disk, then S3), each
    expired by its repository's retention (pgBackRest expires after each backup: never files deleted by
    hand); ``options``: pgBackRest's own."""
    if kind not in BACKUP_TYPES:
        raise BackupFailed(f"unknown backup type {kind!r}", hint=f"one of {', '.join(BACKUP_TYPES)}")
    made: list[BackupSet] = []
    for repo in tool.repos:
        step(f"pgbackrest: {kind} backup into repo{repo}")
        before = {(b.repo, b.label) for b in tool.info().backups}
        tool.backup(kind, *options, repo=repo)
        new = [b for b in tool.info().backups if (b.repo, b.label) not in before and b.repo == repo]
        if not new:
            raise BackupFailed(
                f"pgbackrest reported a backup into repo{repo} but lists none", hint="`pgbackrest info`"
            )
        made.append(new[-1])
    return made


@dataclass(frozen=True)
class RecoveryRange:
    """What the repository can recover: from the oldest backup's stop to ``latest`` (None: unknown,
    the primary could not be asked to close its WAL segment)."""

    earliest: datetime | None
    latest: datetime | None
    backups: list[BackupSet]

    def describe(self) -> str:
        start = self.earliest.isoformat(sep=" ", timespec="seconds") if self.earliest else "no backup"
        end = self.latest.isoformat(sep=" ", timespec="seconds") if self.latest else "the last archived WAL"
        return f"{start} to {end}"


def recovery_range(info: StanzaInfo, latest: datetime | None) -> RecoveryRange:
    good = [b for b in info.backups if not b.error]
    return RecoveryRange(good[0].stopped if good else None, latest, good)


@dataclass(frozen=True)
class ArchivedPoint:
    """The end of the archive as the primary made it: every commit before ``moment`` (and below ``lsn``)
    is in an archived WAL segment."""

    moment: datetime
    lsn: str


def archive_current_wal(
    admin: PgTarget, system_id: int | None, timeout: float = ARCHIVE_WAIT_SECONDS
) -> ArchivedPoint | None:
    """Close the primary's current WAL segment and wait until it is archived; the point just before the
    switch. None when the primary cannot be reached, or is not the cluster the repository holds
    (``system_id``): a host rebuilt after its loss runs a new, empty cluster until it is restored."""
    import psycopg

    try:
        with admin.connect(autocommit=True) as conn:
            own = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
            if own is None or (system_id is not None and int(own[0]) != system_id):
                return None
            # PostgreSQL stops a recovery at a commit record: a moment after the last commit would
            # have none after it to stop at, and replay would end short of the target. So a commit of
            # our own (a transaction id, nothing else) follows the moment this range ends at.
            moment_row = conn.execute("SELECT clock_timestamp()").fetchone()
            conn.execute("SELECT pg_current_xact_id()")
            row = conn.execute(
                "SELECT %s::timestamptz, pg_current_wal_lsn()::text, pg_walfile_name(pg_switch_wal())",
                (moment_row[0] if moment_row else None,),
            ).fetchone()
            if row is None:
                return None
            moment, lsn, segment = row
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
                if archived and archived[0] and str(archived[0])[:24] >= segment:
                    return ArchivedPoint(moment.astimezone(UTC), str(lsn))
                time.sleep(0.2)
            raise RestoreFailed(
                f"the primary's WAL segment {segment} was not archived within {timeout:g}s",
                hint="archiving is failing: see pg_stat_archiver and `neurmatic health`",
            )
    except psycopg.OperationalError:
        return None
