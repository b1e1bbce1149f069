"""What every backup and restore procedure needs from a deployment: where to connect and where files go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.db.migrate import upgrade_to_head
from neurmatic.db.url import DatabaseUrl
from neurmatic.deployment.model import Deployment
from neurmatic.ops.flows.backups.files import local_backups
from neurmatic.ops.flows.backups.restore import RestoreResult, Step, restore_backup
from neurmatic.ops.flows.backups.s3 import prune_local
from neurmatic.settings import Settings


@dataclass(frozen=True)
class BackupContext:
    deployment: Deployment
    app: PgTarget  # the application role, on whichever node is the primary now
    admin: PgTarget  # the administrator, same nodes
    directory: Path

    @classmethod
    def of(cls, deployment: Deployment, directory: Path | None = None) -> BackupContext:
        """The deployment's backups: in ``directory`` when given, else its BACKUP_DIR or default."""
        return cls(deployment, deployment.app, deployment.admin, directory or deployment.backup_dir)

    @property
    def settings(self) -> Settings:
        return self.deployment.settings

    @property
    def safety_dir(self) -> Path:
        """The dumps taken of a database before a restore replaced it."""
        return self.directory / "safety"

    @property
    def downloads_dir(self) -> Path:
        """The backups fetched from S3 to be restored."""
        return self.directory / "downloads"

    def apply_retention(self, keep_days: int, now: datetime | None = None) -> list[Path]:
        """Delete the backups, safety dumps and downloads older than ``keep_days`` (by their names), each
        directory keeping its newest: all three hold every row, and none may grow without bound."""
        return [
            pruned
            for directory in (self.directory, self.safety_dir, self.downloads_dir)
            for pruned in prune_local(local_backups(directory), keep_days, now)
        ]


def restore_and_migrate(
    ctx: BackupContext, backup_file: Path, database: str, *, yes: bool, jobs: int, step: Step
) -> RestoreResult:
    """The whole restore: verified, restored beside the target, swapped in, migrated to head."""
    result = restore_backup(
        backup_file,
        admin=ctx.admin,
        database=database,
        owner=ctx.app.user,
        yes=yes,
        safety_dir=ctx.safety_dir,
        step=step,
        jobs=jobs,
    )
    step("migrations: upgrading the restored schema to head")
    # As the administrator acting as the owner role: the application role may only reach its own database.
    upgrade_to_head(
        DatabaseUrl(
            ctx.admin.user,
            ctx.admin.password,
            list(ctx.admin.hosts),
            database,
            {"target_session_attrs": "read-write", "options": f"-c role={ctx.app.user}"},
        )
    )
    return result
