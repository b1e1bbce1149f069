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
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.leader_fault import LeaderFault
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch, check_rejoined
from neurmatic.ops.flows.drills.registry import register


@register
class DbFailure(LeaderFault):
    name = "db-failure"
    summary = (
        "SIGKILL PostgreSQL on the Patroni leader; Patroni promotes the synchronous standby with no "
        "operator action, the API follows, no acknowledged write is lost, the old leader rejoins."
    )
    stage = "primary"
    recovery = "Patroni promoted the standby: a new leader takes writes"

    def describe(self, leader: PostgresHandle) -> str:
        return f"SIGKILL the postmaster of {leader.name} (the Patroni leader)"

    def fault(self, ctx: DrillContext, leader: PostgresHandle) -> int:
        pid = leader.kill_postmaster()
        if pid is None:
            raise DrillPreconditionFailed(
                f"{leader.name} runs no postmaster to kill", hint="see `neurmatic status`"
            )
        return pid

    def check_outcome(self, ctx: DrillContext, leader: PostgresHandle, watch: LeaderWatch) -> None:
        promoted = watch.new_leader_writable_at(ctx.recorder.stages[0].fault_at)
        ctx.check(
            "Patroni failed over by itself",
            promoted is not None,
            f"{promoted[0]} leads" if promoted else f"leaders seen: {watch.leaders_seen()}",
        )
        check_rejoined(ctx, leader.name)
