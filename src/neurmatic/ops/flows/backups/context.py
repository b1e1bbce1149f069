"""What every backup and restore procedure needs from a topology: where to connect and where files go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from neurmatic.db.migrate import upgrade_to_head
from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import ConfigurationError, TopologyNotRunningError
from neurmatic.ops.flows.backups.files import local_backups
from neurmatic.ops.flows.backups.restore import RestoreResult, Step, restore_backup
from neurmatic.ops.flows.backups.s3 import prune_local
from neurmatic.ops.flows.pg_access import PgTarget
from neurmatic.settings import Settings
from neurmatic.supervisor.layout import HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState, read_env_file


@dataclass(frozen=True)
class BackupContext:
    state: TopologyState
    app: PgTarget  # the application role, on whichever node is the primary now
    admin: PgTarget  # the administrator, same nodes
    directory: Path

    @classmethod
    def load(cls, state_dir: Path, directory: Path | None = None) -> BackupContext:
        state = TopologyState.load(state_dir)
        if not state.paths.app_env_file.exists():  # written by the first `up`
            raise TopologyNotRunningError(
                f"the topology in {state.paths.root} was never started", hint="`neurmatic up` first"
            )
        url = DatabaseUrl.parse(read_env_file(state.paths.app_env_file)["DATABASE_URL"])
        hosts = tuple((HOST, state.ports.postgres(i)) for i in (1, 2))
        admin = PgTarget(hosts, SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], "postgres")
        backups = directory or Path(os.environ.get("BACKUP_DIR") or state.paths.root / "backups")
        return cls(state, PgTarget.from_url(url), admin, backups)

    @property
    def settings(self) -> Settings:
        """The topology's settings, with the process environment (AWS_*, S3_BUCKET, ...) taking precedence."""
        return Settings.load(self.state.paths.app_env_file)

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


def days(variable: str, default: int) -> int:
    """A number of days from the environment (a retention), ``default`` when unset."""
    value = os.environ.get(variable) or str(default)
    if not value.isdigit():
        raise ConfigurationError(f"{variable}={value!r} is not a whole number of days")
    return int(value)


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
