"""``neurmatic doctor``: the host it runs on, audited against the guide's security checklist.

Each finding is ✓ / ! / ✗ with, for every ! and ✗, the command that fixes it. What a finding compares
against comes from the same sources the production files are rendered from: the firewall's ports
(render/host/firewall.py), the kernel settings (render/host/settings.py), the fail2ban jails
(render/host/fail2ban.py), the alert thresholds (disk, memory) and the health checks' certificate and
backup rules (ops/flows/monitoring/health.py). Nothing here changes the host.
"""

from __future__ import annotations

import ipaddress
import pwd
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from neurmatic.health import Status, Verdict, verdict
from neurmatic.ops.flows.monitoring.health import (
    DISK_FAIL,
    DISK_WARN,
    MEMORY_FAIL,
    MEMORY_WARN,
    backup_freshness,
    disk_usage,
    served_certificate,
    threshold,
)
from neurmatic.render.host.fail2ban import jails
from neurmatic.render.host.firewall import FIREWALL_FILE, TABLE, FirewallSettings
from neurmatic.render.host.settings import SSHD_PATH, SYSCTL_PATH, sysctl_values

FIREWALL_TABLE = ("inet", TABLE)
CONTAINER_PROXIES = {"docker-proxy", "rootlessport", "rootlesskit", "slirp4netns"}
COMMAND_TIMEOUT = 20.0
LYNIS_TIMEOUT = 600.0


@dataclass
class Finding:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Audit:
    """What the host is checked against; every field has the production default."""

    public_url: str = "https://127.0.0.1"
    ca_file: Path | None = None  # trust for the served chain (None: the system's store)
    backup_dir: Path | None = None
    secret_files: tuple[Path, ...] = ()
    firewall: FirewallSettings = field(default_factory=FirewallSettings)
    lynis: bool = False


def _run(argv: list[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str] | None:
    """The program's result, or None when it is not installed."""
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        return None
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def firewall(_audit: Audit) -> Finding:
    result = _run(["nft", "list", "table", *FIREWALL_TABLE])
    fix = f"nft -f {FIREWALL_FILE} (and include it from /etc/nftables.conf: docs/operations.md)"
    if result is None:
        return Finding("firewall", Status.DOWN, "nftables is not installed", "apt-get install -y nftables")
    if result.returncode != 0:
        return Finding("firewall", Status.DOWN, f"table {' '.join(FIREWALL_TABLE)} is not loaded", fix)
    if "policy drop" not in result.stdout:
        return Finding("firewall", Status.DOWN, "the input chain does not drop by default", fix)
    return Finding("firewall", Status.UP, "our rules are loaded (input policy drop)")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def listening_ports(audit: Audit, firewall_active: bool) -> Finding:
    """Every TCP port listening beyond loopback: the public ones are meant to be; a private one is fine
    only while the firewall admits it from the private network alone; anything else is exposed."""
    public = set(audit.firewall.public_tcp_ports)
    private = set(audit.firewall.private_tcp_ports)
    exposed: list[str] = []
    filtered: list[int] = []
    for connection in psutil.net_connections(kind="inet"):
        udp = connection.type == socket.SOCK_DGRAM
        if not connection.laddr or (not udp and connection.status != psutil.CONN_LISTEN):
            continue
        address, port = connection.laddr.ip, connection.laddr.port
        if _is_loopback(address) or (port in public and not udp):
            continue
        process = _process_name(connection.pid)
        # A container runtime's proxy stands for a published port: Docker's DNAT sends those packets past
        # the input hook, so our firewall never sees them (only what compose publishes decides).
        if port in private and firewall_active and not udp and process not in CONTAINER_PROXIES:
            filtered.append(port)
            continue
        if udp and firewall_active:
            continue  # the firewall admits no new UDP at all
        exposed.append(f"{port}/{'udp' if udp else 'tcp'} ({process} on {address})")
    if exposed:
        return Finding(
            "open ports",
            Status.DOWN,
            f"reachable beyond 22/80/443: {', '.join(sorted(set(exposed)))}",
            "bind these to 127.0.0.1 or the private address; apply the firewall for the private ports",
        )
    note = f"; {', '.join(map(str, sorted(set(filtered))))} from the private network only" if filtered else ""
    return Finding("open ports", Status.UP, f"only {'/'.join(map(str, sorted(public)))} from anywhere{note}")


def _process_name(pid: int | None) -> str:
    if pid is None:
        return "?"
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return str(pid)


def fail2ban(_audit: Audit) -> Finding:
    result = _run(["fail2ban-client", "status"])
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


def _peer_chain(url: str, ca_file: Path | None) -> tuple[x509.Certificate | None, str | None]:
    """(the served certificate, why its chain does not verify or None)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        return None, exc.verify_message or str(exc)
    return (x509.load_der_x509_certificate(der) if der else None), None


def _no_edge(name: str, url: str, exc: OSError) -> Finding:
    return Finding(
        name,
        Status.DOWN,
        f"no TLS answer at {url}: {exc.strerror or type(exc).__name__}",
        "start nginx (neurmatic up, or docker compose up -d nginx), or point --url at the edge",
    )


def tls_certificate(audit: Audit) -> Finding:
    try:
        status, detail = served_certificate(audit.public_url)
    except OSError as exc:
        return _no_edge("tls certificate", audit.public_url, exc)
    _, problem = _peer_chain(audit.public_url, audit.ca_file)
    if problem is not None:
        return Finding(
            "tls certificate",
            Status.DOWN,
            f"{detail}; the chain does not verify: {problem}",
            "neurmatic tls issue --domain <name> --email <address> (docs/operations.md, Certificates)",
        )
    fix = "neurmatic tls renew (and neurmatic tls schedule)" if status != Status.UP else None
    return Finding("tls certificate", status, f"{detail}, chain verified", fix)


def _ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        access = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(access, x509.AuthorityInformationAccess)
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return str(description.access_location.value)
    return None


def ocsp_stapling(audit: Audit) -> Finding:
    parts = urlsplit(audit.public_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    try:
        served, _ = _peer_chain(audit.public_url, audit.ca_file)
    except OSError as exc:
        return _no_edge("ocsp stapling", audit.public_url, exc)
    if served is None:
        served = _unverified_peer(host, port)
    if served is not None and _ocsp_url(served) is None:
        return Finding("ocsp stapling", Status.NOT_CONFIGURED, "the certificate names no OCSP responder")
    result = _run(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", host, "-status"])
    if result is None:
        return Finding(
            "ocsp stapling", Status.DEGRADED, "openssl is not installed", "apt-get install -y openssl"
        )
    if "OCSP Response Status: successful" in result.stdout:
        return Finding("ocsp stapling", Status.UP, "nginx staples a good OCSP response")
    return Finding(
        "ocsp stapling",
        Status.DEGRADED,
        "no OCSP response stapled",
        "ssl_stapling on, ssl_trusted_certificate (chain.pem) and a resolver: the production nginx config",
    )


def _unverified_peer(host: str, port: int) -> x509.Certificate | None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # only to read its extensions
    try:
        with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return x509.load_der_x509_certificate(der) if der else None


def ssh(_audit: Audit) -> Finding:
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else None)
    if sshd is None:
        return Finding("ssh", Status.NOT_CONFIGURED, "no SSH server installed")
    if not Path("/run/sshd").is_dir():  # made by ssh.service; `sshd -T` refuses to run without it
        return Finding(
            "ssh", Status.DEGRADED, "sshd is installed but not running", "systemctl enable --now ssh"
        )
    result = _run([sshd, "-T"])
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
    result = _run(["lynis", "audit", "system", "--quick", "--no-colors"], timeout=LYNIS_TIMEOUT)
    if result is None:
        return Finding("lynis", Status.NOT_CONFIGURED, "lynis is not installed", "apt-get install -y lynis")
    match = re.search(r"Hardening index\s*:\s*(\d+)", result.stdout)
    if match is None:
        return Finding(
            "lynis", Status.DEGRADED, "no hardening index in lynis's report", "run lynis audit system"
        )
    return Finding("lynis", Status.UP, f"hardening index {match.group(1)} (details: /var/log/lynis.log)")


def _guarded(name: str, check: Callable[[], Finding | Iterable[Finding]]) -> list[Finding]:
    """A check that breaks is a finding of its own, never the end of the audit."""
    try:
        result = check()
    except Exception as exc:
        return [Finding(name, Status.DOWN, f"could not check: {type(exc).__name__}: {exc}")]
    return [result] if isinstance(result, Finding) else list(result)


def audit(settings: Audit) -> list[Finding]:
    findings = _guarded("firewall", lambda: firewall(settings))
    active = findings[0].status == Status.UP
    findings += _guarded("open ports", lambda: listening_ports(settings, active))
    checks: list[tuple[str, Callable[[], Finding | Iterable[Finding]]]] = [
        ("fail2ban", lambda: fail2ban(settings)),
        ("secret files", lambda: secret_modes(settings)),
        ("tls certificate", lambda: tls_certificate(settings)),
        ("ocsp stapling", lambda: ocsp_stapling(settings)),
        ("ssh", lambda: ssh(settings)),
        ("kernel settings", lambda: sysctl(settings)),
        ("disk", lambda: disk_and_memory(settings)),
        ("backups", lambda: backups(settings)),
    ]
    if settings.lynis:
        checks.append(("lynis", lambda: lynis(settings)))
    for name, check in checks:
        findings += _guarded(name, check)
    return findings


def overall(findings: list[Finding]) -> Verdict:
    return verdict({finding.name: finding.status for finding in findings})


def report(findings: list[Finding]) -> dict[str, object]:
    return {"verdict": overall(findings), "findings": [asdict(finding) for finding in findings]}
