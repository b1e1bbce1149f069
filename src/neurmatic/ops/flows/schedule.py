"""``neurmatic backup schedule``: install the guide's daily backup (02:00 UTC) as a cron entry or a
systemd timer, idempotently, and say exactly what was installed.

The scheduled command is the guide's own script, ``infrastructure/scripts/backup.sh``, with the state
and backup directories in its environment, so the guide's cron line and ours are the same thing.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

from neurmatic.errors import ConfigurationError, MissingBinaryError

MARKER = "# neurmatic-backup"
UNIT = "neurmatic-backup"
PROJECT_ROOT = Path(__file__).resolve().parents[4]


@dataclass
class Schedule:
    at: time  # UTC
    state_dir: Path
    backup_dir: Path
    verify: bool = False

    def command(self) -> str:
        script = PROJECT_ROOT / "infrastructure" / "scripts" / "backup.sh"
        program = [str(script)] if script.exists() else [sys.executable, "-m", "neurmatic", "backup"]
        state, backups = shlex.quote(str(self.state_dir)), shlex.quote(str(self.backup_dir))
        env = f"NEURMATIC_STATE_DIR={state} BACKUP_DIR={backups}"
        argv = " ".join(shlex.quote(a) for a in [*program, *(["--verify"] if self.verify else [])])
        return f"{env} {argv}"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / "backup.log"

    def local_time(self) -> time:
        """Cron reads the machine's local time: the UTC hour converted (today's offset; see the note)."""
        moment = datetime.combine(datetime.now(UTC).date(), self.at, tzinfo=UTC).astimezone()
        return moment.time()


@dataclass
class Installed:
    method: str
    where: list[str]
    entry: str
    activated: bool
    notes: list[str] = field(default_factory=list)


def cron_line(schedule: Schedule) -> str:
    local = schedule.local_time()
    log = shlex.quote(str(schedule.log_file))
    # sh reads the trailing "# neurmatic-backup DIR" as a comment; it marks our line for replacement.
    when = f"{local.minute} {local.hour} * * *"
    return f"{when} {schedule.command()} >> {log} 2>&1 {MARKER} {schedule.state_dir}"


def _crontab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("crontab")
    if binary is None:
        raise MissingBinaryError(
            "crontab is not installed", hint="apt-get install cron, or use --method systemd"
        )
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=False)


def _without_ours(lines: list[str], state_dir: Path) -> list[str]:
    return [line for line in lines if not line.endswith(f"{MARKER} {state_dir}")]


def install_crontab(schedule: Schedule, *, remove: bool = False) -> Installed:
    """Add (or replace, or with ``remove`` delete) our line in the current user's crontab."""
    current = _crontab("-l")
    lines = current.stdout.splitlines() if current.returncode == 0 else []
    kept = _without_ours(lines, schedule.state_dir)
    entry = "" if remove else cron_line(schedule)
    new = kept + ([entry] if entry else [])
    result = _crontab("-", stdin="\n".join(new) + "\n")
    if result.returncode != 0:
        raise ConfigurationError(f"crontab refused the new table: {result.stderr.strip()}")
    return Installed("cron", ["crontab of the current user"], entry, True, _tz_notes(schedule))


def install_cron_file(schedule: Schedule, path: Path, *, remove: bool = False) -> Installed:
    """A /etc/cron.d-style file (with the user field), replaced atomically."""
    if remove:
        path.unlink(missing_ok=True)
        return Installed("cron", [str(path)], "", True)
    line = cron_line(schedule)
    minute, hour, dom, month, dow, rest = line.split(" ", 5)
    text = "# The guide's daily backup; installed by `neurmatic backup schedule`.\nSHELL=/bin/sh\n"
    text += f"{minute} {hour} {dom} {month} {dow} root {rest}\n"
    tmp = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
    return Installed("cron", [str(path)], text.splitlines()[-1], True, _tz_notes(schedule))


def _tz_notes(schedule: Schedule) -> list[str]:
    local = schedule.local_time()
    if local == schedule.at:
        return []
    return [
        f"{schedule.at:%H:%M} UTC is {local:%H:%M} local time today; cron follows local time, "
        "so re-run this after a daylight-saving change (or use --method systemd, which keeps UTC)"
    ]


def systemd_units(schedule: Schedule) -> dict[str, str]:
    service = (
        "[Unit]\nDescription=Neurmatic daily database backup\nAfter=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"Environment=NEURMATIC_STATE_DIR={schedule.state_dir}\nEnvironment=BACKUP_DIR={schedule.backup_dir}\n"
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
