"""Options every command that acts on a topology shares."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from neurmatic.errors import ConfirmationRequired
from neurmatic.supervisor.layout import resolve_state_dir


def state_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        callback=lambda _ctx, _param, value: resolve_state_dir(value),
        help="The topology's state directory [default: $NEURMATIC_STATE_DIR or ./.neurmatic].",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")(func)


def confirm(question: str, *, yes: bool) -> None:
    """Ask ``question`` on the terminal unless ``--yes`` was given; without a terminal (a script, cron,
    CI) refuse at once with what to pass, rather than reading an empty stdin as "no"."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequired(
            f"not confirmed: {question}", hint="pass --yes to confirm (there is no terminal to ask on)"
        )
    click.confirm(question, abort=True, err=True)
