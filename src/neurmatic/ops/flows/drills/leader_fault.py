"""The shape the PostgreSQL HA drills share: a fault on the Patroni leader, watched from just before it
until the service is back, then the same checks (never two primaries, the drill's own) and the cluster
left whole for the next drill. A scenario says only what the fault is, when it counts as recovered, and
what else it verifies (``scenarios/db_failure.py``, ``patroni_failure.py``, ``switchover.py``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from neurmatic.deployment.drills import PostgresHandle
from neurmatic.deployment.failover import FailoverFailed
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch, cluster_whole, restore_cluster
from neurmatic.ops.flows.drills.registry import Scenario


def current_leader(ctx: DrillContext) -> PostgresHandle:
    """The leader, once the cluster is whole (a streaming standby to fail over to); else refuse."""
    try:
        leader = ctx.control.postgres_primary()
    except FailoverFailed as exc:
        raise DrillPreconditionFailed(exc.message, hint=exc.hint) from exc
    if not cluster_whole(ctx):
        raise DrillPreconditionFailed(
            "the PostgreSQL standby is not streaming from the leader",
            hint="see `neurmatic status`; `neurmatic standby rebuild` reinitializes it",
        )
    return leader


class LeaderFault(Scenario):
    """A fault on the leader; recovered, by default, when another node leads and takes writes."""

    loses_no_writes = True  # synchronous replication: no fault on the leader may lose an acknowledged write
    stage: ClassVar[str]  # the fault's name in the report
    recovery: ClassVar[str] = "a new leader takes writes"

    def __init__(self) -> None:
        self.leader: PostgresHandle | None = None
        self.watch: LeaderWatch | None = None

    @abstractmethod
    def describe(self, leader: PostgresHandle) -> str:
        """The fault, in a few words naming the node."""

    @abstractmethod
    def fault(self, ctx: DrillContext, leader: PostgresHandle) -> object:
        """Inflict it (the moment it runs is the fault's time)."""

    def recovered(self, ctx: DrillContext, leader: PostgresHandle, fault_at: float) -> bool:
        assert self.watch is not None
        return self.watch.new_leader_writable_at(fault_at) is not None

    def check_outcome(self, ctx: DrillContext, leader: PostgresHandle, watch: LeaderWatch) -> None:
        """The scenario's own checks, once the load has stopped."""

    def check_ready(self, ctx: DrillContext) -> None:
        current_leader(ctx)

    def run(self, ctx: DrillContext) -> None:
        leader = self.leader = current_leader(ctx)
        watch = self.watch = LeaderWatch(ctx, leader).start()
        try:
            stage = ctx.inject(self.stage, self.describe(leader), lambda: self.fault(ctx, leader))
            ctx.await_recovery(stage, lambda: self.recovered(ctx, leader, stage.fault_at), self.recovery)
            ctx.await_service(stage)
        finally:
            watch.stop()
        watch.report_timing(stage.fault_at)

    def verify(self, ctx: DrillContext) -> None:
        if self.leader is None or self.watch is None:
            return
        self.watch.check_single_primary()
        self.check_outcome(ctx, self.leader, self.watch)

    def restore(self, ctx: DrillContext) -> None:
        if self.leader is not None:
            restore_cluster(ctx)
