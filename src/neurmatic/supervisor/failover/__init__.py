"""The local topology's database failover: ``ManualFailover`` implements the platform's
``DatabaseFailover`` with ordered, checked steps on the supervisor's PostgreSQL nodes."""

from __future__ import annotations

from neurmatic.deployment.failover import FailoverResult, Progress, RebuildResult, no_progress
from neurmatic.supervisor.failover import database, standby
from neurmatic.supervisor.state import TopologyState


class ManualFailover:
    """Our own implementation: ordered, checked steps on the local topology, run when asked."""

    def __init__(self, state: TopologyState, *, progress: Progress = no_progress) -> None:
        self.state = state
        self.progress = progress

    def failover(self) -> FailoverResult:
        return database.failover(self.state, progress=self.progress)

    def switchover(self) -> FailoverResult:
        return database.switchover(self.state, progress=self.progress)

    def rebuild_standby(self) -> RebuildResult:
        return standby.rebuild_standby(self.state, progress=self.progress)
