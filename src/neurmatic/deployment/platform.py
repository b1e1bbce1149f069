"""The platform interface: what only a deployment whose processes we control can do.

Backups, restores, health, Sentinel failover, users and migrations need nothing but network addresses and
credentials. Deploys, rollbacks, scaling, drills and rebuilding the standby start and stop servers: they
need a platform. The local topology (``neurmatic up``) is the one implementation today; a deployment
described only by an env file has none, and those procedures refuse with exit 3 instead of guessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from neurmatic.errors import PlatformUnavailable


class Platform(Protocol):
    """Control of a deployment's processes."""

    name: str

    def state_dir(self) -> Path:
        """Where the platform keeps what it runs (the local topology's state directory)."""
        ...

    def node_down_reason(self, host: str, port: int) -> str | None:
        """Why a PostgreSQL node is stopped on purpose (fenced by a failover), or None."""
        ...


class NoPlatform:
    """A deployment whose processes someone else runs (compose, Kubernetes, systemd on servers)."""

    name = "none"

    def __init__(self, source: str) -> None:
        self.source = source

    def state_dir(self) -> Path:
        raise PlatformUnavailable(
            f"this needs control of the servers' processes, and {self.source} describes addresses only",
            hint="run it on the host of a local topology (`--state-dir`), or with the tool that runs "
            "these servers (docker compose, kubectl); see docs/operations.md",
        )

    def node_down_reason(self, host: str, port: int) -> str | None:
        return None
