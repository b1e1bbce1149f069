"""``db-failure``: the guide's "Database failure", rehearsed by crashing PostgreSQL on the Patroni leader.

The fault is a SIGKILL of the leader's postmaster and every backend; its Patroni lives on. Nobody acts:
the drill only watches. Patroni notices within its loop_wait, gives up the leader key (a crashed primary
is not restarted in place: ``primary_start_timeout`` 0), the synchronous standby takes it and is
promoted, the API follows through its multi-host URL, and the old leader is rewound into a replica. The
RTO is the kill to the first acknowledged write through nginx; synchronous replication means no
acknowledged write may be lost.
"""

from __future__ import annotations

from neurmatic.deployment.drills import PostgresHandle
from neurmatic.deployment.failover import FailoverFailed
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.leader_watch import (
    LeaderWatch,
    check_rejoined,
    cluster_whole,
    restore_cluster,
)
from neurmatic.ops.flows.drills.registry import Scenario, register


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


def _kill_postmaster(node: PostgresHandle) -> int:
    pid = node.kill_postmaster()
    if pid is None:
        raise DrillPreconditionFailed(
            f"{node.name} runs no postmaster to kill", hint="see `neurmatic status`"
        )
    return pid


@register
class DbFailure(Scenario):
    name = "db-failure"
    summary = (
        "SIGKILL PostgreSQL on the Patroni leader; Patroni promotes the synchronous standby with no "
        "operator action, the API follows, no acknowledged write is lost, the old leader rejoins."
    )
    loses_no_writes = True

    def __init__(self) -> None:
        self.killed: PostgresHandle | None = None
        self.watch: LeaderWatch | None = None

    def check_ready(self, ctx: DrillContext) -> None:
        current_leader(ctx)

    def run(self, ctx: DrillContext) -> None:
        leader = self.killed = current_leader(ctx)
        watch = self.watch = LeaderWatch(ctx, leader).start()
        try:
            stage = ctx.inject(
                "primary",
                f"SIGKILL the postmaster of {leader.name} (the Patroni leader)",
                lambda: _kill_postmaster(leader),
            )
            ctx.await_recovery(
                stage,
                lambda: watch.new_leader_writable_at(stage.fault_at) is not None,
                "Patroni promoted the standby: a new leader takes writes",
            )
            ctx.await_service(stage)
        finally:
            watch.stop()
        watch.report_timing(stage.fault_at)

    def verify(self, ctx: DrillContext) -> None:
        if self.killed is None or self.watch is None:
            return
        self.watch.check_single_primary()
        fault_at = ctx.recorder.stages[0].fault_at
        promoted = self.watch.new_leader_writable_at(fault_at)
        ctx.check(
            "Patroni failed over by itself",
            promoted is not None,
            f"{promoted[0]} leads" if promoted else f"leaders seen: {self.watch.leaders_seen()}",
        )
        check_rejoined(ctx, self.killed.name)

    def restore(self, ctx: DrillContext) -> None:
        if self.killed is not None:
            restore_cluster(ctx)
