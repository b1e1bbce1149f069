"""Failover behind one interface: what the CLI and the DR drills call.

``DatabaseFailover`` is the seam for an HA engine. Today ``ManualFailover`` implements it: an operator
(or ``neurmatic drill``) decides, and the flows in ``failover_db.py`` and ``standby.py`` carry it out.
When Patroni (or another engine with its own leader election and fencing) takes over, it gets a class
that asks the engine to do the same three things (``patronictl failover``/``switchover``/``reinit``)
and returns the same results; nothing that calls :func:`failover_database` changes. We deliberately
run no leader election of our own: two nodes cannot form a quorum, and a half-built one is worse than
a clear manual procedure.

Redis needs no such seam: Sentinel already is its HA engine; :func:`failover_redis` only drives it.
"""

from __future__ import annotations

from typing import Protocol

from neurmatic.ops.flows.failover import database as failover_db
from neurmatic.ops.flows.failover import standby
from neurmatic.ops.flows.failover.redis import failover_redis
from neurmatic.ops.flows.failover.types import (
    FailoverFailed,
    FailoverResult,
    Progress,
    RebuildResult,
    RedisFailoverResult,
    no_progress,
)
from neurmatic.supervisor.state import TopologyState

__all__ = [
    "DatabaseFailover",
    "FailoverFailed",
    "FailoverResult",
    "ManualFailover",
    "RebuildResult",
    "RedisFailoverResult",
    "failover_database",
    "failover_redis",
    "rebuild_standby",
]


class DatabaseFailover(Protocol):
    """Moving the PostgreSQL primary role, whoever does it (us by hand, or an HA engine)."""

    def failover(self) -> FailoverResult:
        """Unplanned: the primary is lost or must go now; promote the standby, fence the old primary."""
        ...

    def switchover(self) -> FailoverResult:
        """Planned: swap primary and standby without losing a committed transaction."""
        ...

    def rebuild_standby(self) -> RebuildResult:
        """Make the node that is not the primary (e.g. the fenced old one) a streaming standby again."""
        ...


class ManualFailover:
    """Our own implementation: ordered, checked steps on the local topology, run when asked."""

    def __init__(self, state: TopologyState, *, progress: Progress = no_progress) -> None:
        self.state = state
        self.progress = progress

    def failover(self) -> FailoverResult:
        return failover_db.failover(self.state, progress=self.progress)

    def switchover(self) -> FailoverResult:
        return failover_db.switchover(self.state, progress=self.progress)

    def rebuild_standby(self) -> RebuildResult:
        return standby.rebuild_standby(self.state, progress=self.progress)


def failover_database(
    state: TopologyState,
    *,
    switchover: bool = False,
    progress: Progress = no_progress,
    engine: DatabaseFailover | None = None,
) -> FailoverResult:
    """Fail over (default) or switch over the PostgreSQL primary; ``engine`` defaults to ManualFailover."""
    chosen = engine or ManualFailover(state, progress=progress)
    return chosen.switchover() if switchover else chosen.failover()


def rebuild_standby(
    state: TopologyState, *, progress: Progress = no_progress, engine: DatabaseFailover | None = None
) -> RebuildResult:
    """Make the non-primary node a streaming standby again (pg_rewind, else pg_basebackup)."""
    return (engine or ManualFailover(state, progress=progress)).rebuild_standby()
