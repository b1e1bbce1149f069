"""What point-in-time recovery needs from a platform (implemented by ``supervisor/archive_control.py``).

Backups, the archive's state and verification need pgBackRest run where the data is, as the account
that owns it. A recovery also restores the cluster beside the live one first, into a scratch directory
on the same host, and, once checked, swaps it in: the HA engine's state is reset, the restored data
becomes the leader's, and the standbys are rebuilt from it. The procedure itself lives in
``ops/flows/backups/pitr.py`` and works against this protocol only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from neurmatic.adapters.pgbackrest import PgBackRest

Step = Callable[[str], None]


class ArchiveControl(Protocol):
    """pgBackRest and the PostgreSQL cluster's files, on the platform that runs them."""

    @property
    def account(self) -> str | None:
        """The account the cluster's files belong to (None: the current one)."""
        ...

    @property
    def forks_file(self) -> Path:
        """Where the recoveries swapped in are recorded (``ops/flows/backups/history.py``)."""
        ...

    def pgbackrest(self) -> PgBackRest:
        """pgBackRest as the node that is the primary now sees it."""
        ...

    def scratch_dir(self, label: str) -> Path:
        """A new, empty directory for a restored cluster, on the data's disk, owned by ``account``."""
        ...

    def swap_in(self, restored: Path, step: Step) -> None:
        """Make the stopped, restored cluster in ``restored`` the live one: the HA engine's cluster state
        reset, the restored data the leader's, every standby rebuilt from it."""
        ...
