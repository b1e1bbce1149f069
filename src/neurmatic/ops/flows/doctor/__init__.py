"""``neurmatic doctor``: the host it runs on, audited against the guide's security checklist.

Each finding is ✓ / ! / ✗ with, for every ! and ✗, the command that fixes it. What a finding compares
against comes from the same sources the production files are rendered from: the firewall's ports
(render/host/firewall.py), the kernel settings (render/host/settings.py), the fail2ban jails
(render/host/fail2ban.py), the alert thresholds (disk, memory) and the health checks' certificate and
backup rules (ops/flows/monitoring/health.py). Nothing here changes the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict

from neurmatic.health import Status, Verdict, verdict
from neurmatic.ops.flows.doctor.edge import ocsp_stapling, tls_certificate
from neurmatic.ops.flows.doctor.host import (
    backups,
    disk_and_memory,
    fail2ban,
    lynis,
    secret_modes,
    ssh,
    sysctl,
)
from neurmatic.ops.flows.doctor.model import Audit, Finding
from neurmatic.ops.flows.doctor.network import firewall, listening_ports

__all__ = ["Audit", "Finding", "audit", "overall", "report", "secret_modes"]


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
