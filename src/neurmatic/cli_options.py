"""Click options shared by the process entry points that live in different layers (``neurmatic api`` in
``neurmatic.api.cli``, ``neurmatic worker`` in ``neurmatic.worker.cli``), which may not import each other."""

from __future__ import annotations

from pathlib import Path

import click

env_file_option = click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Read settings from this file for what the environment does not set.",
)
