"""Click options shared by commands that live in different layers (``neurmatic api`` in
``neurmatic.api.cli``, ``neurmatic worker`` in ``neurmatic.worker.cli``, ``up``/``down``/``status`` in
``neurmatic.supervisor.cli``, the ops kit in ``neurmatic.ops.commands``), which may not import each other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

env_file_option = click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Read settings from this file for what the environment does not set.",
)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")(func)


def state_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--state-dir`` for the local topology's own commands (up, down, status, logs)."""
    from neurmatic.deployment.locate import resolve_state_dir

    return click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        callback=lambda _ctx, _param, value: resolve_state_dir(value),
        help="The topology's state directory [default: $NEURMATIC_STATE_DIR or ./.neurmatic].",
    )(func)
