"""``patroni-failure``: the HA agent itself crashes on the leader; its PostgreSQL keeps running.

This is the split-brain trap: a primary whose Patroni is gone takes writes while nobody renews its
leader key; if the key expired and the standby were promoted, two primaries would take writes. The
supervisor's watcher restarts the dead Patroni at once: the new process finds its PostgreSQL running and
its leader key still valid, and carries on (had the key expired, it would demote its node). Synchronous
replication keeps an orphaned primary from acknowledging a commit alone. The drill checks that no
acknowledged write is lost and that two nodes never take writes at once, and reports the RTO.
"""

from __future__ import annotations

from neurmatic.deployment.drills import PostgresHandle, ProcessIdentity
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.leader_fault import LeaderFault
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch, check_rejoined, cluster_whole
from neurmatic.ops.flows.drills.registry import register


@register
class PatroniFailure(LeaderFault):
    name = "patroni-failure"
    summary = (
        "SIGKILL the Patroni process on the leader (PostgreSQL keeps running); the watcher restarts it, "
        "no second primary appears and no acknowledged write is lost."
    )
    needs_watcher = True
    stage = "patroni"
    recovery = "the leader's Patroni restarted and the cluster is whole"

    def __init__(self) -> None:
        super().__init__()
        self.before: ProcessIdentity | None = None  # the Patroni process that is killed
        self.postmaster: int | None = None

    def describe(self, leader: PostgresHandle) -> str:
        return f"SIGKILL the Patroni of {leader.name} (the leader)"

    def fault(self, ctx: DrillContext, leader: PostgresHandle) -> int:
        self.before, self.postmaster = leader.identity(), leader.postmaster_pid()
        return ctx.kill(leader)

    def recovered(self, ctx: DrillContext, leader: PostgresHandle, fault_at: float) -> bool:
        restarted = leader.identity() not in (None, self.before)
        return restarted and leader.is_ready() and cluster_whole(ctx)

    def check_outcome(self, ctx: DrillContext, leader: PostgresHandle, watch: LeaderWatch) -> None:
        leaders = watch.leaders_seen()
        ctx.note(
            f"PostgreSQL of {leader.name}: postmaster {self.postmaster} before the fault, "
            f"{leader.postmaster_pid()} after; leaders seen: {' → '.join(leaders) or 'none'}"
        )
        if leaders and leaders[-1] != leader.name:
            check_rejoined(ctx, leader.name)
