"""``neurmatic backup schedule``: install the guide's daily backup (02:00 UTC) and, with ``--physical``,
the physical ones (a weekly full on Sunday, a differential the other days) as cron entries or systemd
timers, idempotently, and say exactly what was installed.

The scheduled command is the guide's own script, ``infrastructure/scripts/backup.sh``, with the state
and backup directories in its environment, so the guide's cron line and ours are the same thing. What a
run installs is the whole schedule of that deployment: run without ``--physical``, it leaves the physical
jobs a previous run installed out (and says so), so the schedule is always what the last run printed.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

from neurmatic.errors import ConfigurationError, MissingBinaryError

CRON_TZ_LINE = "CRON_TZ=UTC"  # the run is at a UTC time: cronie reads the zone of the entries from it
UNIT = "neurmatic-backup"  # the logical job's unit and cron marker (the name earlier versions installed)
FULL_UNIT, DIFF_UNIT = f"{UNIT}-full", f"{UNIT}-diff"
ALL_UNITS = (UNIT, FULL_UNIT, DIFF_UNIT)
PROJECT_ROOT = Path(__file__).resolve().parents[5]  # src/neurmatic/ops/flows/backups/schedule.py
SUNDAY = 0  # cron's numbering of the week: 0 Sunday … 6 Saturday
EVERY_DAY = tuple(range(7))


@dataclass(frozen=True)
class Job:
    """One scheduled run of ``neurmatic backup``: its unit (and cron marker), when (UTC), its arguments."""

    unit: str
    what: str  # for people: "daily logical backup"
    at: time  # UTC
    weekdays: tuple[int, ...]  # cron's numbering
    args: tuple[str, ...]  # after `neurmatic backup`


@dataclass
class Schedule:
    """The backups of one deployment: named by its env file or its local topology's state dir."""

    at: time  # UTC
    deployment: Path  # the env file, or the state directory (``local``)
    backup_dir: Path
    verify: bool = False
    local: bool = True
    physical_at: time | None = None  # UTC; None: no physical backups scheduled

    @property
    def selector(self) -> str:
        """The variable that names the deployment to the scheduled command."""
        return "NEURMATIC_STATE_DIR" if self.local else "NEURMATIC_ENV_FILE"

    def jobs(self) -> list[Job]:
        logical = Job(UNIT, "daily logical backup", self.at, EVERY_DAY, ("--verify",) if self.verify else ())
        if self.physical_at is None:
            return [logical]
        # A differential holds what changed since the full: the week's restores need the Sunday full
        # and one differential, not a chain of incrementals.
        at, physical = self.physical_at, ("--physical", "--type")
        full = Job(FULL_UNIT, "weekly full physical backup", at, (SUNDAY,), (*physical, "full"))
        diff = Job(DIFF_UNIT, "daily differential physical backup", at, EVERY_DAY[1:], (*physical, "diff"))
        return [logical, full, diff]

    def command(self, job: Job) -> str:
        script = PROJECT_ROOT / "infrastructure" / "scripts" / "backup.sh"
        program = [str(script)] if script.exists() else [sys.executable, "-m", "neurmatic", "backup"]
        where, backups = shlex.quote(str(self.deployment)), shlex.quote(str(self.backup_dir))
        env = f"{self.selector}={where} BACKUP_DIR={backups}"
        return f"{env} {' '.join(shlex.quote(a) for a in [*program, *job.args])}"

    @property
    def log_file(self) -> Path:
        return self.deployment / "logs" / "backup.log" if self.local else self.backup_dir / "backup.log"

    def marker(self, unit: str) -> str:
        """The end of a cron line of ours (sh reads it as a comment; we find our lines by it)."""
        return f"# {unit} {self.deployment}"


@dataclass
class Installed:
    method: str
    where: list[str]
    entry: str
    activated: bool
    notes: list[str] = field(default_factory=list)


def local_time(at: time) -> tuple[time, int]:
    """``at`` UTC on this machine's clock today, and the day it falls on there relative to UTC's (-1, 0
    or +1: 01:00 UTC on Sunday is still Saturday evening in New York)."""
    today = datetime.now(UTC).date()
    moment = datetime.combine(today, at, tzinfo=UTC).astimezone()
    return moment.time(), (moment.date() - today).days


def day_runs(days: tuple[int, ...]) -> list[tuple[int, int]]:
    """Consecutive days as (first, last) runs: (1, 2, 3, 5) → [(1, 3), (5, 5)]."""
    runs: list[tuple[int, int]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def cron_weekdays(days: tuple[int, ...], shift: int = 0) -> str:
    """Cron's day-of-week field for ``days``, each moved by ``shift`` days."""
    moved = tuple((day + shift) % 7 for day in days)
    if len(set(moved)) == 7:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in day_runs(moved))


def cron_reads_cron_tz() -> bool:
    """Whether this machine's cron daemon honours ``CRON_TZ`` (cronie does; Debian's cron 3.0 does not,
    and follows the machine's zone). Told by the daemon's own binary; no daemon here: assume it does."""
    for name in ("crond", "cron"):
        binary = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if binary is not None:
            with contextlib.suppress(OSError):
                return b"CRON_TZ" in Path(binary).read_bytes()
    return True


def cron_lines(schedule: Schedule, *, reads_cron_tz: bool) -> list[str]:
    """``CRON_TZ=UTC`` and the entries at their UTC times, whenever that means what it says: the daemon
    reads CRON_TZ, or the machine's clock is UTC anyway. Otherwise the entries at the local time and day
    (see the note)."""
    utc = reads_cron_tz or local_time(schedule.at) == (schedule.at, 0)
    log = shlex.quote(str(schedule.log_file))
    entries = []
    for job in schedule.jobs():
        when, shift = (job.at, 0) if utc else local_time(job.at)
        command = f"{schedule.command(job)} >> {log} 2>&1 {schedule.marker(job.unit)}"
        # cron ends the command at an unescaped % (the rest becomes its stdin): a path may hold one.
        days = cron_weekdays(job.weekdays, shift)
        entries.append(f"{when.minute} {when.hour} * * {days} {command.replace('%', chr(92) + '%')}")
    return [CRON_TZ_LINE, *entries] if utc else entries


def _crontab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("crontab")
    if binary is None:
        raise MissingBinaryError(
            "crontab is not installed", hint="apt-get install cron, or use --method systemd"
        )
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=False)


def _ours(schedule: Schedule, line: str) -> str | None:
    """The unit of ours that ``line`` runs, if it is one of our cron lines for this deployment."""
    return next((unit for unit in ALL_UNITS if line.endswith(schedule.marker(unit))), None)


def _without_ours(schedule: Schedule, lines: list[str]) -> tuple[list[str], set[str]]:
    """The table without our lines and the ``CRON_TZ=UTC`` written just before them (ours too), and
    the units those lines ran."""
    kept: list[str] = []
    found: set[str] = set()
    previous = ""
    for line in lines:
        unit = _ours(schedule, line)
        if unit is None:
            kept.append(line)
        else:
            if previous == CRON_TZ_LINE and kept and kept[-1] == CRON_TZ_LINE:
                kept.pop()
            found.add(unit)
        previous = line
    return kept, found


def unscheduled_note(schedule: Schedule, before: set[str], *, remove: bool) -> list[str]:
    """Say so when this run leaves out physical backups an earlier run scheduled."""
    left_out = ({FULL_UNIT, DIFF_UNIT} & before) - {job.unit for job in schedule.jobs()}
    if remove or not left_out:
        return []
    return ["the physical backups an earlier run scheduled are no longer scheduled (--physical keeps them)"]


def install_crontab(schedule: Schedule, *, remove: bool = False) -> Installed:
    """Add (or replace, or with ``remove`` delete) our lines at the end of the current user's crontab."""
    current = _crontab("-l")
    kept, before = _without_ours(schedule, current.stdout.splitlines() if current.returncode == 0 else [])
    ours = [] if remove else cron_lines(schedule, reads_cron_tz=cron_reads_cron_tz())
    result = _crontab("-", stdin="".join(f"{line}\n" for line in kept + ours))
    if result.returncode != 0:
        raise ConfigurationError(f"crontab refused the new table: {result.stderr.strip()}")
    notes = [] if remove else _tz_notes(schedule, ours, table=True)
    notes += unscheduled_note(schedule, before, remove=remove)
    return Installed("cron", ["crontab of the current user"], "\n".join(ours), True, notes)


def install_cron_file(schedule: Schedule, path: Path, *, remove: bool = False) -> Installed:
    """A /etc/cron.d-style file (with the user field), replaced atomically."""
    before = _without_ours(schedule, path.read_text().splitlines())[1] if path.is_file() else set()
    if remove:
        path.unlink(missing_ok=True)
        return Installed("cron", [str(path)], "", True)
    lines = cron_lines(schedule, reads_cron_tz=cron_reads_cron_tz())
    ours = [line if line == CRON_TZ_LINE else _as_root(line) for line in lines]
    text = "# The guide's backups; installed by `neurmatic backup schedule`.\nSHELL=/bin/sh\n"
    text += "\n".join(ours) + "\n"
    tmp = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
    notes = _tz_notes(schedule, ours, table=False) + unscheduled_note(schedule, before, remove=False)
    return Installed("cron", [str(path)], "\n".join(ours), True, notes)


def _as_root(entry: str) -> str:
    """A crontab entry as a /etc/cron.d line: the user between the time fields and the command."""
    minute, hour, dom, month, dow, rest = entry.split(" ", 5)
    return f"{minute} {hour} {dom} {month} {dow} root {rest}"


def _tz_notes(schedule: Schedule, ours: list[str], *, table: bool) -> list[str]:
    if CRON_TZ_LINE in ours:
        # In a user's crontab, CRON_TZ holds for every line after it: ours go last.
        return ["CRON_TZ=UTC applies to the lines after it: keep the neurmatic lines last"] if table else []
    local, _ = local_time(schedule.at)
    return [
        f"{schedule.at:%H:%M} UTC is {local:%H:%M} local time today, and this cron ignores CRON_TZ, so the "
        "entries are in local time: re-run this after a daylight-saving change (or use --method systemd, "
        "which keeps UTC)"
    ]
