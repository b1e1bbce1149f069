"""The backup schedule as systemd timers: one service and one timer per job, at UTC times (systemd keeps
the zone itself, daylight saving included), ``Persistent=true`` so a run missed while the host was off
happens at boot."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from neurmatic.errors import ConfigurationError
from neurmatic.ops.flows.backups.schedule import (
    ALL_UNITS,
    EVERY_DAY,
    Installed,
    Job,
    Schedule,
    day_runs,
    unscheduled_note,
)

DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron's numbering, systemd's names


def on_calendar(job: Job) -> str:
    """``OnCalendar=*-*-* 02:00:00 UTC``, or with the days first: ``Mon..Sat *-*-* 01:00:00 UTC``."""
    days = ""
    if set(job.weekdays) != set(EVERY_DAY):
        runs = day_runs(job.weekdays)
        days = ",".join(DAY_NAMES[a] if a == b else f"{DAY_NAMES[a]}..{DAY_NAMES[b]}" for a, b in runs) + " "
    return f"OnCalendar={days}*-*-* {job.at:%H:%M}:00 UTC"


def systemd_units(schedule: Schedule) -> dict[str, str]:
    units: dict[str, str] = {}
    for job in schedule.jobs():
        units[f"{job.unit}.service"] = (
            f"[Unit]\nDescription=Neurmatic {job.what}\nAfter=network-online.target\n\n"
            "[Service]\nType=oneshot\n"
            f"Environment={schedule.selector}={schedule.deployment}\n"
            f"Environment=BACKUP_DIR={schedule.backup_dir}\n"
            f"ExecStart=/bin/sh -c {shlex.quote(schedule.command(job))}\n"
        )
        units[f"{job.unit}.timer"] = (
            f"[Unit]\nDescription=Neurmatic {job.what}, {on_calendar(job).removeprefix('OnCalendar=')}\n\n"
            f"[Timer]\n{on_calendar(job)}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
        )
    return units


def _systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _systemctl(*args: str) -> None:
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigurationError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")


def _drop(unit_dir: Path, units: list[str], running: bool) -> None:
    """Stop, disable and delete the timers and services of ``units`` (those that exist)."""
    for unit in units:
        if running and (unit_dir / f"{unit}.timer").exists():
            disable = ["systemctl", "disable", "--now", f"{unit}.timer"]
            subprocess.run(disable, capture_output=True, check=False)  # gone already is fine
        for suffix in (".service", ".timer"):
            (unit_dir / f"{unit}{suffix}").unlink(missing_ok=True)


def install_systemd(schedule: Schedule, unit_dir: Path, *, remove: bool = False) -> Installed:
    """Write each job's service and timer (and drop the jobs no longer scheduled); enable the timers when
    systemd runs here, else say how."""
    running = _systemd_runs()
    before = {unit for unit in ALL_UNITS if (unit_dir / f"{unit}.timer").exists()}
    existing = [p for unit in ALL_UNITS for p in (unit_dir / f"{unit}.service", unit_dir / f"{unit}.timer")]
    existing = [p for p in existing if p.exists()]
    wanted = [] if remove else [job.unit for job in schedule.jobs()]
    _drop(unit_dir, [unit for unit in ALL_UNITS if unit not in wanted], running)
    if remove:
        return Installed("systemd", [str(p) for p in existing], "", running)
    unit_dir.mkdir(parents=True, exist_ok=True)
    units = systemd_units(schedule)
    for name, text in units.items():
        tmp = unit_dir / f".{name}.partial"
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(unit_dir / name)
    timers = [f"{unit}.timer" for unit in wanted]
    notes = unscheduled_note(schedule, before, remove=False)
    if running:
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", *timers)
    else:
        notes.append(
            "systemd is not running here; on the host run: systemctl daemon-reload && "
            f"systemctl enable --now {' '.join(timers)}"
        )
    entry = "\n".join(on_calendar(job) for job in schedule.jobs())
    return Installed("systemd", [str(unit_dir / name) for name in units], entry, running, notes)
