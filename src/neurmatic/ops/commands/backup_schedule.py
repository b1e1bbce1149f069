"""``neurmatic backup schedule``: the guide's daily 02:00 UTC backup, and with ``--physical`` the weekly
full and daily differential pgBackRest backups, installed and shown."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from datetime import time
from pathlib import Path

import click

from neurmatic.deployment.locate import ENV_FILE_VARIABLE, resolve_state_dir
from neurmatic.errors import ConfigurationError
from neurmatic.ops.commands.backup_context import dir_option
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option
from neurmatic.ops.flows.backups.schedule import Installed, Schedule, install_cron_file, install_crontab
from neurmatic.ops.flows.backups.schedule_systemd import install_systemd
from neurmatic.settings import BackupSettings


def _parse_time(_ctx: click.Context, _param: click.Parameter, value: str) -> time:
    try:
        hour, minute = (int(part) for part in value.split(":"))
        return time(hour, minute)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not HH:MM (24-hour, UTC)") from exc


def _default_method() -> str:
    if shutil.which("crontab"):
        return "cron"
    return "systemd"


def _plan(
    target: DeploymentChoice, directory: Path | None, at: time, verify: bool, physical_at: time | None
) -> Schedule:
    """What the nightly command is told: the env file, or the local topology's state directory (which
    need not be running yet: the schedule only names it)."""
    named_by_variable = target.state_dir is None and bool(os.environ.get(ENV_FILE_VARIABLE))
    if target.env_file is not None or named_by_variable:
        deployment = target.load()
        assert deployment.env_file is not None  # described by the file just named
        if physical_at is not None:
            # pgBackRest runs where the data is, as its owner: refused now (PlatformUnavailable, with the
            # way out), not every night by cron.
            deployment.platform.archive()
        backups = (directory or deployment.backup_dir).resolve()
        try:  # the nightly run logs there from its first second: it must exist before that night
            backups.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the backup directory {backups}: {exc.strerror}",
                hint="create it (owned by the user cron runs the backup as), or set BACKUP_DIR",
            ) from exc
        return Schedule(at, deployment.env_file, backups, verify, local=False, physical_at=physical_at)
    state_dir = resolve_state_dir(target.state_dir)
    backups = directory or BackupSettings().directory or state_dir / "backups"
    return Schedule(at, state_dir, backups.resolve(), verify, local=True, physical_at=physical_at)


@click.command("schedule")
@deployment_option
@dir_option
@click.option(
    "--at", "at", default="02:00", callback=_parse_time, show_default=True, help="Time of day, UTC."
)
@click.option(
    "--method",
    type=click.Choice(["cron", "systemd"]),
    default=None,
    help="cron (the user's crontab, or --cron-file) or a systemd timer [default: cron when installed].",
)
@click.option(
    "--cron-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write an /etc/cron.d-style file here instead of editing the crontab.",
)
@click.option(
    "--unit-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where the systemd service and timer go.",
)
@click.option(
    "--verify", "then_verify", is_flag=True, help="Run the restore test after every logical backup."
)
@click.option(
    "--physical",
    is_flag=True,
    help="Also the pgBackRest backups: a full one on Sunday, a differential the other days. Without it, "
    "physical backups an earlier run scheduled are left out.",
)
@click.option(
    "--physical-at",
    default="01:00",
    callback=_parse_time,
    show_default=True,
    help="With --physical: time of day, UTC (apart from the logical backup: both read the whole database).",
)
@click.option("--remove", is_flag=True, help="Uninstall the schedule instead.")
@json_option
def schedule(
    target: DeploymentChoice,
    directory: Path | None,
    at: time,
    method: str | None,
    cron_file: Path | None,
    unit_dir: Path,
    then_verify: bool,
    physical: bool,
    physical_at: time,
    remove: bool,
    as_json: bool,
) -> None:
    """Install (idempotently) the daily backup (and with --physical the pgBackRest ones), and print
    exactly what was installed; --remove uninstalls every one of them."""
    plan = _plan(target, directory, at, then_verify, physical_at if physical else None)
    chosen = method or ("cron" if cron_file else _default_method())
    installed: Installed
    if chosen == "systemd":
        installed = install_systemd(plan, unit_dir, remove=remove)
    elif cron_file is not None:
        installed = install_cron_file(plan, cron_file, remove=remove)
    else:
        installed = install_crontab(plan, remove=remove)
    jobs = [] if remove else [{"unit": j.unit, "what": j.what, "args": list(j.args)} for j in plan.jobs()]
    if as_json:
        out = {"removed": remove, "at_utc": f"{at:%H:%M}", "jobs": jobs, **asdict(installed)}
        click.echo(json.dumps(out, indent=2))
        return
    if remove:
        click.echo(f"removed the backup schedule ({installed.method}) from: {', '.join(installed.where)}")
    else:
        what = ", ".join(str(job["what"]) for job in jobs)
        click.echo(f"installed the {what} ({installed.method}) in: {', '.join(installed.where)}")
    for line in installed.entry.splitlines():
        click.echo(f"  {line}")
    for note in installed.notes:
        click.echo(f"  note: {note}")
