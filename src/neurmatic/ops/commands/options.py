"""Options the ops commands share: which deployment each acts on, its monitoring servers, --json,
confirmation."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from neurmatic.cli_options import json_option as json_option  # every ops command's, re-exported
from neurmatic.errors import ConfigurationError, ConfirmationRequired

if TYPE_CHECKING:
    from rich.console import Console

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


MonitoringServer = Literal["prometheus", "alertmanager"]
_MONITORING_VARIABLES = {
    "prometheus": "NEURMATIC_PROMETHEUS_URL",
    "alertmanager": "NEURMATIC_ALERTMANAGER_URL",
}


def monitoring_option(server: MonitoringServer) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--prometheus-url`` / ``--alertmanager-url``: the server's address, over the deployment's."""
    return click.option(
        f"--{server}-url",
        "server_url",
        default=None,
        metavar="URL",
        help=f"{server.capitalize()}'s address [default: the local topology's, or "
        f"${_MONITORING_VARIABLES[server]} of the env file].",
    )


def monitoring_url(server: MonitoringServer, target: DeploymentChoice, explicit: str | None) -> str:
    """``explicit`` when given; else the deployment's: the local topology's loopback port
    (``Ports.prometheus``, ``Ports.alertmanager``) or the env file's ``NEURMATIC_*_URL``."""
    if explicit:
        return explicit.rstrip("/")
    deployment = target.load()
    url = deployment.prometheus_url if server == "prometheus" else deployment.alertmanager_url
    if not url:
        variable = _MONITORING_VARIABLES[server]
        raise ConfigurationError(
            f"{deployment.source} names no {server.capitalize()}: {variable} is not set",
            hint=f"set {variable}=http://{server}:{9090 if server == 'prometheus' else 9093} "
            f"(or pass --{server}-url)",
        )
    return url


def stdout_console() -> Console:
    """Rich on stdout: the terminal's width, or a wide one when piped, so that each row stays one line
    (for grep, scripts and tests) instead of folding at 80 columns."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


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
