"""``neurmatic``: the command line. Errors become a message, a hint and an exit code here, once."""

from __future__ import annotations

import os
import signal
import sys

import click
from rich.console import Console
from rich.markup import escape

from neurmatic.errors import NeurmaticError
from neurmatic.ops.driver_errors import translate
from neurmatic.ops.exit_codes import ExitCode, exit_code_for
from neurmatic.ops.lazy_group import LazyCommand, LazyGroup

err_console = Console(stderr=True, soft_wrap=True)


# Every command, by name: its module (under neurmatic.ops.commands unless a package is named: `api` and
# `worker` live with their layer, so the ops kit imports neither), the click object, and its short help
# (`get_short_help_str(limit=SHORT_HELP_LIMIT)` of the command, checked by tests/unit/test_cli_lazy.py).
COMMANDS = {
    "alerts": LazyCommand(
        "alerts", "alerts", "Alerts firing in Alertmanager (silenced and inhibited ones marked); its..."
    ),
    "api": LazyCommand("cli", "api", "Serve the API with uvicorn.", package="neurmatic.api"),
    "backup": LazyCommand(
        "backup", "backup", "Back up the database (verified, with a manifest); `backup list`, `backup..."
    ),
    "deploy": LazyCommand(
        "deploy", "deploy", "Deploy VERSION: backup, build beside the others, expand-only migrations, one..."
    ),
    "down": LazyCommand(
        "cli",
        "down",
        "Stop every service in reverse order: gracefully, then forcibly.",
        package="neurmatic.supervisor",
    ),
    "drill": LazyCommand(
        "drill", "drill", "Rehearse a disaster under load; measure RTO, RPO and failed requests; write a..."
    ),
    "doctor": LazyCommand(
        "doctor", "doctor", "Audit this host: open ports, firewall, fail2ban, secret files, TLS and OCSP..."
    ),
    "failover": LazyCommand(
        "failover", "failover", "Move the PostgreSQL primary or the Redis master to the other node."
    ),
    "health": LazyCommand("health", "health", "Check everything (each check with its own timeout)."),
    "logs": LazyCommand(
        "cli",
        "logs",
        "Print a service's log (postgres-1, redis-2, sentinel-3, backend-1, worker,...",
        package="neurmatic.supervisor",
    ),
    "migrate": LazyCommand(
        "migrate",
        "migrate",
        "Bring the schema to head in one transaction; refuse (exit 22) anything but an...",
    ),
    "mailcatcher": LazyCommand(
        "mailcatcher",
        "mailcatcher",
        "Accept every SMTP message and store it as an .eml file (development and tests...",
        hidden=True,
    ),
    "releases": LazyCommand(
        "deploy", "releases", "The release history, newest first; the current one is marked."
    ),
    "render": LazyCommand(
        "render", "render", "Render infrastructure/ and docker-compose.production.yml from the shared..."
    ),
    "restore": LazyCommand(
        "restore",
        "restore",
        "Restore a backup, or the cluster to a point in time: checked beside the live...",
    ),
    "restore-table": LazyCommand(
        "restore",
        "restore_table",
        "The guide's data-loss procedure: restore the backup into a separate database,...",
    ),
    "rollback": LazyCommand(
        "deploy", "rollback", "Go back to the previous release (or VERSION), one instance at a time."
    ),
    "scale": LazyCommand("deploy", "scale", "Capacity: how many API instances run behind nginx."),
    "secrets": LazyCommand("secrets", "secrets", "Secrets for production."),
    "seed": LazyCommand(
        "seed", "seed_command", "Fill the database with realistic users and published articles."
    ),
    "standby": LazyCommand("failover", "standby", "The PostgreSQL standby."),
    "status": LazyCommand(
        "cli",
        "status",
        "Each service with its current role, address, pid and state.",
        package="neurmatic.supervisor",
    ),
    "supervise": LazyCommand(
        "cli",
        "supervise",
        "The watcher's process (started by `up`): restarts crashed API instances and...",
        hidden=True,
        package="neurmatic.supervisor",
    ),
    "up": LazyCommand(
        "cli",
        "up",
        "Bring the whole production topology up on 127.0.0.1 (or what is not running...",
        package="neurmatic.supervisor",
    ),
    "tls": LazyCommand(
        "tls", "tls", "The edge's certificate: issue, renew, status, schedule (certbot, webroot..."
    ),
    "top": LazyCommand(
        "top", "top", "Every service's state, request rate, p95, errors, replication lag, queues,..."
    ),
    "users": LazyCommand("users", "users", "Accounts."),
    "worker": LazyCommand("cli", "worker", "Run the background job worker.", package="neurmatic.worker"),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neurmatic")
def cli() -> None:
    """Neurmatic: the platform, its local production topology and its operations kit."""


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    # SIGTERM and SIGHUP (a closed terminal, a service manager, a CI timeout) end a command the way
    # Ctrl-C does, so its cleanups run: a recovery puts the live data back, a scratch server stops, hold
    # files go. The servers (api, worker) install their own handlers when they start.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(ExitCode.ABORTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except NeurmaticError as exc:
        # The message may quote what a server said: text, never Rich markup.
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, markup=True)
        if exc.hint:
            err_console.print(f"  → {escape(exc.hint)}", highlight=False)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(ExitCode.ABORTED)
    except Exception as exc:  # a bug or an unforeseen failure: say what, not a traceback (unless asked)
        if os.environ.get("NEURMATIC_DEBUG"):
            raise
        known = translate(exc)
        if known is not None:
            err_console.print(f"[bold red]error:[/] {known.message}", highlight=False, markup=True)
            err_console.print(f"  → {known.hint}", highlight=False)
            sys.exit(exit_code_for(known))
        err_console.print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {str(exc)[:500]}", highlight=False
        )
        err_console.print("  → run again with NEURMATIC_DEBUG=1 for the traceback", highlight=False)
        sys.exit(ExitCode.FAILURE)
    sys.exit(ExitCode.OK)
