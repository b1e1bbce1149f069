"""What the doctor checks against and what it reports: a finding, the audit's settings, running a tool."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from neurmatic.health import Status
from neurmatic.render.host.firewall import FirewallSettings

COMMAND_TIMEOUT = 20.0


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


def run_tool(argv: list[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str] | None:
    """The program's result, or None when it is not installed."""
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        return None
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
