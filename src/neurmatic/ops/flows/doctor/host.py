"""The host's own findings: fail2ban's jails, secret files, SSH, kernel settings, disk and memory,
backups, and Lynis when asked."""

from __future__ import annotations

import pwd
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import psutil

from neurmatic.health import Status
from neurmatic.ops.flows.doctor.model import Audit, Finding, run_tool
from neurmatic.ops.flows.monitoring.health import (
    DISK_FAIL,
    DISK_WARN,
    MEMORY_FAIL,
    MEMORY_WARN,
    backup_freshness,
    disk_usage,
    threshold,
)
from neurmatic.render.host.fail2ban import jails
from neurmatic.render.host.settings import SSHD_PATH, SYSCTL_PATH, sysctl_values

LYNIS_TIMEOUT = 600.0


def fail2ban(_audit: Audit) -> Finding:
    result = run_tool(["fail2ban-client", "status"])
    if result is None:
        return Finding("fail2ban", Status.DOWN, "fail2ban is not installed", "apt-get install -y fail2ban")
    install = "install infrastructure/host/fail2ban into /etc/fail2ban, then systemctl enable --now fail2ban"
    if result.returncode != 0:
        return Finding("fail2ban", Status.DOWN, "fail2ban is not running", install)
    match = re.search(r"Jail list:\s*(.*)", result.stdout)
    running = {jail.strip() for jail in (match.group(1) if match else "").split(",") if jail.strip()}
    wanted = [jail.name for jail in jails()]
    missing = [jail for jail in wanted if jail not in running]
    if missing:
        return Finding("fail2ban", Status.DOWN, f"jails not running: {', '.join(missing)}", install)
    return Finding("fail2ban", Status.UP, f"jails up: {', '.join(wanted)}")


def secret_modes(audit: Audit) -> Finding:
    loose = [
        f"{path} ({path.stat().st_mode & 0o777:o})"
        for path in audit.secret_files
        if path.is_file() and path.stat().st_mode & 0o077
    ]
    present = [path for path in audit.secret_files if path.is_file()]
    if loose:
        files = " ".join(str(path).split(" (")[0] for path in loose)
        return Finding(
            "secret files", Status.DOWN, f"readable by others: {', '.join(loose)}", f"chmod 600 {files}"
        )
    if not present:
        return Finding("secret files", Status.NOT_CONFIGURED, "no secret file found to check")
    return Finding("secret files", Status.UP, f"{len(present)} file(s), owner-only (0600)")


def ssh(_audit: Audit) -> Finding:
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else None)
    if sshd is None:
        return Finding("ssh", Status.NOT_CONFIGURED, "no SSH server installed")
    if not Path("/run/sshd").is_dir():  # made by ssh.service; `sshd -T` refuses to run without it
        return Finding(
            "ssh", Status.DEGRADED, "sshd is installed but not running", "systemctl enable --now ssh"
        )
    result = run_tool([sshd, "-T"])
    if result is None or result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["?"])[-1] if result else "?"
        return Finding(
            "ssh", Status.DEGRADED, f"sshd -T failed: {reason}", "sshd -t shows the configuration error"
        )
    effective = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    wrong = [
        f"{key} {effective.get(key, '?')}"
        for key, wanted in (("passwordauthentication", "no"), ("permitrootlogin", "no"))
        if effective.get(key) != wanted
    ]
    if not wrong and not _someone_has_a_key(effective):
        return Finding(
            "ssh",
            Status.DOWN,
            "root may not log in and no other account has an SSH key: nobody could log in",
            "give an account in group sudo your key (docs/operations.md, step 4) before closing this session",
        )
    if wrong:
        return Finding(
            "ssh",
            Status.DOWN,
            f"sshd allows {', '.join(wrong)}",
            f"install -m 644 {SSHD_PATH} /etc/ssh/sshd_config.d/ && sshd -t && systemctl reload ssh",
        )
    return Finding("ssh", Status.UP, "keys only, no root login")


def _someone_has_a_key(effective: dict[str, str]) -> bool:
    """Whether an account other than root that can log in has a key in its authorized keys file(s)."""
    files = effective.get("authorizedkeysfile", ".ssh/authorized_keys").split()
    for account in pwd.getpwall():
        if account.pw_uid == 0 or account.pw_shell.endswith(("nologin", "false")):
            continue
        home = Path(account.pw_dir)
        for pattern in files:
            path = Path(pattern.replace("%h", str(home)).replace("%u", account.pw_name).replace("%%", "%"))
            path = path if path.is_absolute() else home / path
            try:
                if any(line.strip() and not line.startswith("#") for line in path.read_text().splitlines()):
                    return True
            except OSError:
                continue
    return False


def sysctl(_audit: Audit) -> Finding:
    different = []
    for key, wanted in sysctl_values().items():
        path = Path("/proc/sys") / key.replace(".", "/")
        if not path.is_file():
            continue
        actual = " ".join(path.read_text().split())
        if actual != " ".join(str(wanted).split()):
            different.append(f"{key}={actual} (wants {wanted})")
    if different:
        return Finding(
            "kernel settings",
            Status.DEGRADED,
            f"{len(different)} differ: {'; '.join(different[:4])}{' …' if len(different) > 4 else ''}",
            f"install -m 644 {SYSCTL_PATH} /etc/sysctl.d/ && sysctl --system",
        )
    return Finding("kernel settings", Status.UP, "as rendered (somaxconn, backlogs, overcommit, …)")


def disk_and_memory(audit: Audit) -> Iterable[Finding]:
    status, detail = disk_usage(audit.backup_dir or Path("/"))
    fix = "free space or grow the volume (the HostDiskHigh alert fires at the same thresholds)"
    yield Finding(
        "disk",
        status,
        f"{detail} (alerts at {DISK_WARN:g}/{DISK_FAIL:g} %)",
        fix if status != Status.UP else None,
    )
    status, detail = threshold(psutil.virtual_memory().percent, MEMORY_WARN, MEMORY_FAIL, "memory")
    yield Finding(
        "memory",
        status,
        f"{detail} (alerts at {MEMORY_WARN:g}/{MEMORY_FAIL:g} %)",
        "find the biggest processes (ps aux --sort=-rss | head)" if status != Status.UP else None,
    )


def backups(audit: Audit) -> Finding:
    if audit.backup_dir is None:
        return Finding("backups", Status.NOT_CONFIGURED, "no backup directory known here (--backup-dir)")
    status, detail = backup_freshness(audit.backup_dir)
    fix = "neurmatic backup, and neurmatic backup schedule" if status != Status.UP else None
    return Finding("backups", status, detail, fix)


def lynis(_audit: Audit) -> Finding:
    result = run_tool(["lynis", "audit", "system", "--quick", "--no-colors"], timeout=LYNIS_TIMEOUT)
    if result is None:
        return Finding("lynis", Status.NOT_CONFIGURED, "lynis is not installed", "apt-get install -y lynis")
    match = re.search(r"Hardening index\s*:\s*(\d+)", result.stdout)
    if match is None:
        return Finding(
            "lynis", Status.DEGRADED, "no hardening index in lynis's report", "run lynis audit system"
        )
    return Finding("lynis", Status.UP, f"hardening index {match.group(1)} (details: /var/log/lynis.log)")
