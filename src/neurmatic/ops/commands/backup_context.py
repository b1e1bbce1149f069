"""The options backup and restore commands share."""

from __future__ import annotations

from pathlib import Path

import click

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
