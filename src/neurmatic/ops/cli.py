"""``neurmatic``: the command line. Errors become a message, a hint and an exit code here, once."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from neurmatic.errors import NeurmaticError
from neurmatic.ops.commands import (
    backup,
    deploy,
    drill,
    failover,
    health,
    mailcatcher,
    render,
    restore,
    secrets,
    seed,
    serve,
    topology,
    users,
)
from neurmatic.ops.exit_codes import ExitCode, exit_code_for

err_console = Console(stderr=True, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neurmatic")
def cli() -> None:
    """Neurmatic: the platform, its local production topology and its operations kit."""


for command in (
    *topology.COMMANDS,
    *serve.COMMANDS,
    *mailcatcher.COMMANDS,
    *backup.COMMANDS,
    *deploy.COMMANDS,
    *restore.COMMANDS,
    *health.COMMANDS,
    *failover.COMMANDS,
    *drill.COMMANDS,
    render.render,
    secrets.secrets,
    users.users,
    seed.seed_command,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(ExitCode.ABORTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except NeurmaticError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        if exc.hint:
            err_console.print(f"  → {exc.hint}", highlight=False)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(ExitCode.ABORTED)
    except Exception as exc:  # a bug or an unforeseen failure: say what, not a traceback (unless asked)
        if os.environ.get("NEURMATIC_DEBUG"):
            raise
        err_console.print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {str(exc)[:500]}", highlight=False
        )
        err_console.print("  → run again with NEURMATIC_DEBUG=1 for the traceback", highlight=False)
        sys.exit(ExitCode.FAILURE)
    sys.exit(ExitCode.OK)
