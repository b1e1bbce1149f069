"""``neurmatic backup schedule``: install the guide's daily backup (02:00 UTC) as a cron entry or a
systemd timer, idempotently, and say exactly what was installed.

The scheduled command is the guide's own script, ``infrastructure/scripts/backup.sh``, with the state
and backup directories in its environment, so the guide's cron line and ours are the same thing.
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

MARKER = "# neurmatic-backup"
CRON_TZ_LINE = "CRON_TZ=UTC"  # the run is at a UTC time: cronie reads the zone of the entries from it
UNIT = "neurmatic-backup"
PROJECT_ROOT = Path(__file__).resolve().parents[5]  # src/neurmatic/ops/flows/backups/schedule.py


@dataclass
class Schedule:
    """The daily backup of one deployment: named by its env file or its local topology's state dir."""

    at: time  # UTC
    deployment: Path  # the env file, or the state directory (``local``)
    backup_dir: Path
    verify: bool = False
    local: bool = True

    @property
    def selector(self) -> str:
        """The variable that names the deployment to the scheduled command."""
        return "NEURMATIC_STATE_DIR" if self.local else "NEURMATIC_ENV_FILE"

    def command(self) -> str:
        script = PROJECT_ROOT / "infrastructure" / "scripts" / "backup.sh"
        program = [str(script)] if script.exists() else [sys.executable, "-m", "neurmatic", "backup"]
        where, backups = shlex.quote(str(self.deployment)), shlex.quote(str(self.backup_dir))
        env = f"{self.selector}={where} BACKUP_DIR={backups}"
        argv = " ".join(shlex.quote(a) for a in [*program, *(["--verify"] if self.verify else [])])
        return f"{env} {argv}"

    @property
    def log_file(self) -> Path:
        return self.deployment / "logs" / "backup.log" if self.local else self.backup_dir / "backup.log"

    def local_time(self) -> time:
        """The UTC time on this machine's clock (today's offset)."""
        moment = datetime.combine(datetime.now(UTC).date(), self.at, tzinfo=UTC).astimezone()
        return moment.time()


@dataclass
class Installed:
    method: str
    where: list[str]
    entry: str
    activated: bool
    notes: list[str] = field(default_factory=list)


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
    """``CRON_TZ=UTC`` and the entry at the UTC time, whenever that means what it says: the daemon reads
    CRON_TZ, or the machine's clock is UTC anyway. Otherwise the entry at the local time (see the note)."""
    local = schedule.local_time()
    utc = reads_cron_tz or local == schedule.at
    when = schedule.at if utc else local
    log = shlex.quote(str(schedule.log_file))
    # sh reads the trailing "# neurmatic-backup DIR" as a comment; it marks our line for replacement.
    command = f"{schedule.command()} >> {log} 2>&1 {MARKER} {schedule.deployment}"
    # cron ends the command at an unescaped % (the rest becomes its stdin): a path may hold one.
    entry = f"{when.minute} {when.hour} * * * {command.replace('%', chr(92) + '%')}"
    return [CRON_TZ_LINE, entry] if utc else [entry]


def _crontab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("crontab")
    if binary is None:
        raise MissingBinaryError(
            "crontab is not installed", hint="apt-get install cron, or use --method systemd"
        )
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=False)


def _without_ours(lines: list[str], deployment: Path) -> list[str]:
    """The table without our entry and the ``CRON_TZ=UTC`` written just before it (the pair is ours)."""
    kept: list[str] = []
    for line in lines:
        if line.endswith(f"{MARKER} {deployment}"):
            if kept and kept[-1] == CRON_TZ_LINE:
                kept.pop()
            continue
        kept.append(line)
    return kept


def install_crontab(schedule: Schedule, *, remove: bool = False) -> Installed:
    """Add (or replace, or with ``remove`` delete) our lines at the end of the current user's crontab."""
    current = _crontab("-l")
    lines = current.stdout.splitlines() if current.returncode == 0 else []
    kept = _without_ours(lines, schedule.deployment)
    reads_cron_tz = cron_reads_cron_tz()
    ours = [] if remove else cron_lines(schedule, reads_cron_tz=reads_cron_tz)
    result = _crontab("-", stdin="".join(f"{line}\n" for line in kept + ours))
    if result.returncode != 0:
        raise ConfigurationError(f"crontab refused the new table: {result.stderr.strip()}")
    notes = [] if remove else _tz_notes(schedule, ours, table=True)
    return Installed("cron", ["crontab of the current user"], "\n".join(ours), True, notes)


def install_cron_file(schedule: Schedule, path: Path, *, remove: bool = False) -> Installed:
    """A /etc/cron.d-style file (with the user field), replaced atomically."""
    if remove:
        path.unlink(missing_ok=True)
        return Installed("cron", [str(path)], "", True)
    *environment, line = cron_lines(schedule, reads_cron_tz=cron_reads_cron_tz())
    minute, hour, dom, month, dow, rest = line.split(" ", 5)
    ours = [*environment, f"{minute} {hour} {dom} {month} {dow} root {rest}"]
    text = "# The guide's daily backup; installed by `neurmatic backup schedule`.\nSHELL=/bin/sh\n"
    text += "\n".join(ours) + "\n"
    tmp = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
    return Installed("cron", [str(path)], "\n".join(ours), True, _tz_notes(schedule, ours, table=False))


def _tz_notes(schedule: Schedule, ours: list[str], *, table: bool) -> list[str]:
    if CRON_TZ_LINE in ours:
        # In a user's crontab, CRON_TZ holds for every line after it: ours go last.
        return ["CRON_TZ=UTC applies to the lines after it: keep the neurmatic lines last"] if table else []
    local = schedule.local_time()
    return [
        f"{schedule.at:%H:%M} UTC is {local:%H:%M} local time today, and this cron ignores CRON_TZ, so the "
        "entry is in local time: re-run this after a daylight-saving change (or use --method systemd, "
        "which keeps UTC)"
    ]


def systemd_units(schedule: Schedule) -> dict[str, str]:
    service = (
        "[Unit]\nDescription=Neurmatic daily database backup\nAfter=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"Environment={schedule.selector}={schedule.deployment}\nEnvironment=BACKUP_DIR={schedule.backup_dir}\n"
        f"ExecStart=/bin/sh -c {shlex.quote(schedule.command())}\n"
    )
    timer = (
        "[Unit]\nDescription=Neurmatic daily database backup at "
        f"{schedule.at:%H:%M} UTC\n\n[Timer]\nOnCalendar=*-*-* {schedule.at:%H:%M}:00 UTC\n"
        "Persistent=true\n\n[Install]\nWantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def install_systemd(schedule: Schedule, unit_dir: Path, *, remove: bool = False) -> Installed:
    """Write the service and its timer; enable the timer when systemd runs here, else say how."""
    running = Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None
    paths = [unit_dir / name for name in systemd_units(schedule)]
    if remove:
        if running:
            subprocess.run(
                ["systemctl", "disable", "--now", f"{UNIT}.timer"], capture_output=True, check=False
            )
        for path in paths:
            path.unlink(missing_ok=True)
        return Installed("systemd", [str(p) for p in paths], "", running)
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in systemd_units(schedule).items():
        tmp = unit_dir / f".{name}.partial"
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(unit_dir / name)
    notes: list[str] = []
    if running:
        for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{UNIT}.timer"]):
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ConfigurationError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    else:
        notes.append(
            f"systemd is not running here; on the host run: systemctl daemon-reload && "
            f"systemctl enable --now {UNIT}.timer"
        )
    timer_line = f"OnCalendar=*-*-* {schedule.at:%H:%M}:00 UTC"
    return Installed("systemd", [str(p) for p in paths], timer_line, running, notes)
