"""What every backup and restore command needs from a topology: where to connect and where files go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from neurmatic.db.url import DatabaseUrl
from neurmatic.ops.flows.pg_access import PgTarget
from neurmatic.settings import Settings
from neurmatic.supervisor.layout import HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState, read_env_file

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Backup directory [default: $BACKUP_DIR or <state dir>/backups].",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Parallel pg_dump/pg_restore jobs (directory format).",
)


@dataclass(frozen=True)
class BackupContext:
    state: TopologyState
    app: PgTarget  # the application role, on whichever node is the primary now
    admin: PgTarget  # the administrator, same nodes
    directory: Path

    @classmethod
    def load(cls, state_dir: Path, directory: Path | None = None) -> BackupContext:
        state = TopologyState.load(state_dir)
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
        return self.directory / "safety"


def days(variable: str, default: int) -> int:
    return int(os.environ.get(variable) or default)
