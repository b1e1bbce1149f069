"""Options the ops commands share: which deployment each acts on, --json, confirmation."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from neurmatic.cli_options import json_option as json_option  # every ops command's, re-exported
from neurmatic.errors import ConfirmationRequired

if TYPE_CHECKING:
    from neurmatic.deployment.model import Deployment


@dataclass(frozen=True)
class DeploymentChoice:
    """The deployment a command was pointed at, resolved when the command needs it (not for --help)."""

    env_file: Path | None
    state_dir: Path | None

    def load(self) -> Deployment:
        from neurmatic.deployment.resolve import resolve_deployment

        return resolve_deployment(env_file=self.env_file, state_dir=self.state_dir)


def deployment_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--env-file`` / ``--state-dir``, passed to the command as ``target`` (a DeploymentChoice)."""

    @functools.wraps(func)
    def wrapper(*args: Any, env_file: Path | None, state_dir: Path | None, **kwargs: Any) -> Any:
        return func(*args, target=DeploymentChoice(env_file, state_dir), **kwargs)

    wrapper = click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Act on the local topology in this state directory [default: $NEURMATIC_STATE_DIR or "
        "./.neurmatic].",
    )(wrapper)
    return click.option(
        "--env-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Act on the deployment this env file describes (the guide's .env.production) "
        "[default: $NEURMATIC_ENV_FILE].",
    )(wrapper)


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
