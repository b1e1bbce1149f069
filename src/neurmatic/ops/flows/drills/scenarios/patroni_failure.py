"""``patroni-failure``: the HA agent itself crashes on the leader; its PostgreSQL keeps running.

This is the split-brain trap: a primary whose Patroni is gone takes writes while nobody renews its
leader key; if the key expired and the standby were promoted, two primaries would take writes. The
supervisor's watcher restarts the dead Patroni at once: the new process finds its PostgreSQL running and
its leader key still valid, and carries on (had the key expired, it would demote its node). Synchronous
replication keeps an orphaned primary from acknowledging a commit alone. The drill checks that no
acknowledged write is lost and that two nodes never take writes at once, and reports the RTO.
"""

from __future__ import annotations

from neurmatic.deployment.drills import PostgresHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.leader_watch import (
    LeaderWatch,
    check_rejoined,
    cluster_whole,
    restore_cluster,
)
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.ops.flows.drills.scenarios.db_failure import current_leader


@register
class PatroniFailure(Scenario):
    name = "patroni-failure"
    summary = (
        "SIGKILL the Patroni process on the leader (PostgreSQL keeps running); the watcher restarts it, "
        "no second primary appears and no acknowledged write is lost."
    )
    needs_watcher = True
    loses_no_writes = True

    def __init__(self) -> None:
        self.killed: PostgresHandle | None = None
        self.watch: LeaderWatch | None = None
        self.postmaster: int | None = None

    def check_ready(self, ctx: DrillContext) -> None:
        current_leader(ctx)

    def run(self, ctx: DrillContext) -> None:
        leader = self.killed = current_leader(ctx)
        self.postmaster = leader.postmaster_pid()
        watch = self.watch = LeaderWatch(ctx, leader).start()
        before = leader.identity()
        try:
            stage = ctx.inject(
                "patroni", f"SIGKILL the Patroni of {leader.name} (the leader)", lambda: ctx.kill(leader)
            )
            ctx.await_recovery(
                stage,
                lambda: leader.identity() not in (None, before) and leader.is_ready() and cluster_whole(ctx),
                f"{leader.name}'s Patroni restarted and the cluster is whole",
            )
            ctx.await_service(stage)
        finally:
            watch.stop()
        watch.report_timing(stage.fault_at)

    def verify(self, ctx: DrillContext) -> None:
        if self.killed is None or self.watch is None:
            return
        self.watch.check_single_primary()
        leaders = self.watch.leaders_seen()
        ctx.note(
            f"PostgreSQL of {self.killed.name}: postmaster {self.postmaster} before the fault, "
            f"{self.killed.postmaster_pid()} after; leaders seen: {' → '.join(leaders) or 'none'}"
        )
        if leaders and leaders[-1] != self.killed.name:
            check_rejoined(ctx, self.killed.name)

    def restore(self, ctx: DrillContext) -> None:
        if self.killed is not None:
            restore_cluster(ctx)
