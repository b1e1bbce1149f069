"""Point-in-time recovery: ``neurmatic restore --to TIME | --to-lsn LSN | --to-latest``.

1. The plan: which backup (the newest that ended before the target) and which WAL (from that backup to
   the target); a target before the oldest backup or after the newest archived WAL is refused with the
   range that is available. ``--dry-run`` stops here.
2. Beside the live cluster: pgBackRest restores that backup into a scratch directory and PostgreSQL
   replays the archived WAL up to the target there, then is checked (every table of the application's
   database read through, row counts, the schema's migration). A gap in the archive stops recovery
   before the target: refused, nothing live touched.
3. The swap (after a confirmation): the platform makes the restored cluster the live one and rebuilds
   the standbys from it (``deployment/archive.py``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.pgbackrest import BackupSet, PgBackRest, PgBackRestError
from neurmatic.deployment.archive import ArchiveControl, Step
from neurmatic.ops.flows.backups.errors import RestoreFailed, TargetOutOfRange
from neurmatic.ops.flows.backups.history import Fork, timeline_holding
from neurmatic.ops.flows.backups.physical import RecoveryRange, archive_current_wal, recovery_range
from neurmatic.ops.flows.backups.scratch import ScratchCluster

LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


@dataclass(frozen=True)
class Target:
    """Where recovery stops: a moment, a WAL position, or the end of the archive."""

    kind: str  # "time", "lsn" or "latest"
    time: datetime | None = None
    lsn: str | None = None
    timeline: int | None = None  # a replaced history that holds the moment (history.py); None: the newest

    @classmethod
    def at_time(cls, text: str) -> Target:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise RestoreFailed(
                f"{text!r} is not a time",
                hint='give it as "2026-11-26 17:04:59+00" (ISO 8601, with its offset)',
            ) from exc
        if moment.tzinfo is None:  # whose clock? a guess could recover to hours away from the moment
            raise RestoreFailed(
                f"{text!r} names no time zone",
                hint=f'add its offset, e.g. "{moment.isoformat(sep=" ")}+00" for UTC',
            )
        return cls("time", time=moment)

    @classmethod
    def at_lsn(cls, text: str) -> Target:
        if not LSN.match(text.strip()):
            raise RestoreFailed(
                f"{text!r} is not a WAL position", hint="give it as PostgreSQL shows one: 0/3000028"
            )
        return cls("lsn", lsn=text.strip().upper())

    def describe(self) -> str:
        if self.time is not None and self.timeline is not None:
            return (
                f"{self.time.isoformat(sep=' ')} on timeline {self.timeline} (a history a recovery replaced)"
            )
        if self.time is not None:
            return self.time.isoformat(sep=" ")
        if self.kind == "latest":
            return f"the end of the archive (LSN {self.lsn})" if self.lsn else "the end of the archive"
        return f"LSN {self.lsn}"

    def pgbackrest_options(self) -> list[str]:
        if self.kind == "time" and self.time is not None:
            on = [f"--target-timeline={self.timeline}"] if self.timeline is not None else []
            return ["--type=time", f"--target={self.time.isoformat(sep=' ')}", "--target-action=promote", *on]
        if self.lsn is not None:  # also "latest" when the primary said where its archived WAL ends: a
            # gap in the archive then stops recovery short of it, refused, instead of ending quietly early
            return ["--type=lsn", f"--target={self.lsn}", "--target-action=promote"]
        return ["--type=default"]  # replay every archived WAL there is (the primary is gone)


def lsn_value(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class RecoveryPlan:
    target: Target
    backup: BackupSet
    range: RecoveryRange

    def describe(self) -> str:
        return (
            f"recover to {self.target.describe()} from {self.backup.type} backup {self.backup.label} "
            f"(repo{self.backup.repo}, consistent at {self.backup.stopped.isoformat(sep=' ')}, "
            f"LSN {self.backup.lsn_stop}), then archived WAL from {self.backup.lsn_start} "
            f"to the target; recoverable: {self.range.describe()}"
        )


def plan_recovery(
    tool: PgBackRest,
    admin: PgTarget,
    target: Target,
    *,
    forks: list[Fork] | None = None,
    repo: int | None = None,
) -> RecoveryPlan:
    """The backup and WAL a recovery to ``target`` uses; TargetOutOfRange when the repository cannot
    reach it. The primary's current WAL is archived first (when it answers), so the range ends now. A
    moment that only a history replaced by an earlier recovery holds (``forks``) recovers on it."""
    if target.kind == "time" and target.time is not None:
        target = replace(target, timeline=timeline_holding(forks or [], target.time))
    info = tool.info(repo=repo)
    end = archive_current_wal(admin, info.system_id)
    available = recovery_range(info, end.moment if end else None)
    if target.kind == "latest" and end is not None:
        target = Target("latest", lsn=end.lsn)
    if not available.backups:
        raise TargetOutOfRange(
            "the repository holds no backup to recover from",
            hint="take one with `neurmatic backup --physical`",
        )
    if target.kind == "time" and target.time is not None:
        moment = target.time
        if available.earliest is not None and moment < available.earliest:
            raise TargetOutOfRange(
                f"{target.describe()} is before the oldest backup: recoverable {available.describe()}"
            )
        if available.latest is not None and moment > available.latest:
            raise TargetOutOfRange(
                f"{target.describe()} is after the newest archived WAL: recoverable {available.describe()}"
            )
        # pgBackRest gives whole seconds: a backup "stopped at 12:00:05" may be consistent only at 12:00:05.9.
        candidates = [b for b in available.backups if b.stopped + timedelta(seconds=1) <= moment]
        if not candidates:
            raise TargetOutOfRange(
                f"{target.describe()} is before the oldest backup became consistent: "
                f"recoverable {available.describe()}"
            )
    elif target.kind == "lsn" and target.lsn is not None:
        wanted = lsn_value(target.lsn)
        if end is not None and wanted > lsn_value(end.lsn):
            raise TargetOutOfRange(
                f"{target.describe()} is after the end of the archive (LSN {end.lsn}): "
                f"recoverable {available.describe()}"
            )
        candidates = [b for b in available.backups if b.lsn_stop and lsn_value(b.lsn_stop) <= wanted]
        if not candidates:
            raise TargetOutOfRange(
                f"{target.describe()} is before the end of the oldest backup "
                f"({available.backups[0].lsn_stop}): recoverable {available.describe()}"
            )
    else:
        candidates = available.backups
    return RecoveryPlan(target, candidates[-1], available)


@dataclass
class RecoveredCluster:
    """A restored cluster that reached its target and passed the checks."""

    plan: RecoveryPlan
    scratch: ScratchCluster
    tables: dict[str, int] = field(default_factory=dict)
    migration: str | None = None
    timeline: int = 0  # the one the recovered cluster goes on with, and the one it branched from
    parent_timeline: int = 0

    def source(self, database: str) -> PgTarget:
        """The recovered ``database``, as the superuser, while the scratch server runs."""
        return PgTarget((("127.0.0.1", self.scratch.port),), "postgres", self.scratch.password, database)

    def discard(self) -> None:
        shutil.rmtree(self.scratch.data_dir.parent, ignore_errors=True)


@contextmanager
def recovery_beside(
    control: ArchiveControl, plan: RecoveryPlan, *, superuser_password: str, database: str, step: Step
) -> Iterator[RecoveredCluster]:
    """Restore ``plan`` into a scratch directory, replay to its target and check it; the block runs with
    the recovered server up, which stops after it. On an error the scratch directory is removed (the
    error says why: there is nothing to keep)."""
    tool = control.pgbackrest()
    label = datetime.now(UTC).strftime("restore-%Y%m%dT%H%M%S")
    data_dir = control.scratch_dir(label) / "data"
    step(f"pgbackrest: restoring backup {plan.backup.label} into {data_dir}")
    scratch = ScratchCluster(data_dir, superuser_password, control.account, env=tool.env)
    recovered = RecoveredCluster(plan, scratch)
    try:
        try:
            tool.restore(
                data_dir,
                [*plan.target.pgbackrest_options(), f"--set={plan.backup.label}"],
                repo=plan.backup.repo,
            )
        except PgBackRestError as exc:
            raise RestoreFailed(f"{exc}; nothing live was changed") from exc
        scratch.start()
        try:
            _replay_and_check(recovered, database, step)
            yield recovered
        finally:
            scratch.stop()
    except BaseException:
        recovered.discard()
        raise


def recover_beside(
    control: ArchiveControl, plan: RecoveryPlan, *, superuser_password: str, database: str, step: Step
) -> RecoveredCluster:
    """Restore, replay and check ``plan`` beside the live cluster; the recovered server stopped, ready to
    become the live one (its recovery settings forgotten)."""
    with recovery_beside(
        control, plan, superuser_password=superuser_password, database=database, step=step
    ) as recovered:
        recovered.scratch.forget_recovery_settings()
    return recovered


def _replay_and_check(recovered: RecoveredCluster, database: str, step: Step) -> None:
    plan = recovered.plan
    step(f"replaying archived WAL to {plan.target.describe()}")
    try:
        recovered.scratch.await_promoted()
    except RestoreFailed as exc:
        raise RestoreFailed(
            f"{exc}; recoverable: {plan.range.describe()}",
            hint="a gap in the archive or a target past its end; nothing live was changed",
        ) from exc
    recovered.tables, recovered.migration = check_cluster(recovered.scratch, database)
    recovered.timeline, recovered.parent_timeline = recovered.scratch.timelines()
    step(
        f"checked: {len(recovered.tables)} tables, {sum(recovered.tables.values())} rows, "
        f"schema at {recovered.migration or 'no migration'}"
    )


def check_cluster(scratch: ScratchCluster, database: str) -> tuple[dict[str, int], str | None]:
    """Read every table of ``database`` through (data checksums catch a damaged page) and count its rows;
    the schema's migration. RestoreFailed when the database is not there."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(
            host="127.0.0.1", port=scratch.port, user="postgres", password=scratch.password, dbname=database
        ) as conn:
            tables = conn.execute(
                "SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2"
            ).fetchall()
            counts: dict[str, int] = {}
            for schema, name in tables:
                query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
                counted = conn.execute(query).fetchone()
                counts[f"{schema}.{name}"] = int(counted[0]) if counted else 0
            row = None
            if "public.alembic_version" in counts:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.Error as exc:
        raise RestoreFailed(f"the recovered cluster failed its check: {exc}") from exc
    return counts, (str(row[0]) if row else None)
