"""What backup and restore commands share: their options and how they report steps."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

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

err = Console(stderr=True, soft_wrap=True)


def step(message: str) -> None:
    """One line per step of a procedure, on stderr (stdout stays clean for --json)."""
    err.print(f"[dim]•[/] {message}", highlight=False)
