"""The platform interface: what only a deployment whose processes we control can do.

Backups, restores, health, Sentinel failover, users and migrations need nothing but network addresses and
credentials, and so do the database failover, switchover and standby rebuild, which Patroni performs when
asked through its REST API (``deployment/patroni.py``). Deploys, rollbacks, scaling and drills start and
stop servers: they need a platform. Each of those areas has its own control interface
(``deployment/releases.py``, ``deployment/drills.py``) that the ops flows use; the local topology
(``neurmatic up``, ``supervisor/platform.py``) implements them today. A deployment described only by an
env file has ``NoPlatform``, and those procedures refuse with exit 3 instead of guessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn, Protocol

from neurmatic.errors import PlatformUnavailable

if TYPE_CHECKING:
    from neurmatic.deployment.archive import ArchiveControl
    from neurmatic.deployment.drills import DrillControl
    from neurmatic.deployment.releases import ReleaseControl


class Platform(Protocol):
    """Control of a deployment's processes."""

    name: str

    def releases(self) -> ReleaseControl:
        """Building releases and switching the API instances and the worker between them."""
        ...

    def drills(self) -> DrillControl:
        """Breaking and restoring the servers on purpose (DR drills)."""
        ...

    def archive(self) -> ArchiveControl:
        """pgBackRest where the data is, and swapping a restored cluster in (point-in-time recovery)."""
        ...


class NoPlatform:
    """A deployment whose processes someone else runs (compose, Kubernetes, systemd on servers)."""

    name = "none"

    def __init__(self, source: str) -> None:
        self.source = source

    def _refuse(self) -> NoReturn:
        raise PlatformUnavailable(
            f"this needs control of the servers' processes, and {self.source} describes addresses only",
            hint="run it on the host of a local topology (`--state-dir`), or with the tool that runs "
            "these servers (docker compose, kubectl); see docs/operations.md",
        )

    def releases(self) -> ReleaseControl:
        self._refuse()

    def drills(self) -> DrillControl:
        self._refuse()

    def archive(self) -> ArchiveControl:
        self._refuse()
