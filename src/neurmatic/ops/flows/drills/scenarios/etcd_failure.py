"""``etcd-failure``: the etcd leader dies; the other two members keep a quorum and elect a new leader
within about a second, Patroni's leader key survives (its ttl is far longer), so no PostgreSQL failover
happens and no write fails. The watcher restarts the member, which rejoins with its data directory.
"""

from __future__ import annotations

from neurmatic.deployment.drills import EtcdHandle, PostgresHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.ops.flows.drills.scenarios.db_failure import current_leader

MEMBER_REJOIN_SECONDS = 60.0


@register
class EtcdFailure(Scenario):
    name = "etcd-failure"
    summary = (
        "SIGKILL the etcd leader; the two other members keep the quorum, Patroni keeps its leader, no "
        "write fails, and the watcher restarts the member."
    )
    needs_watcher = True
    loses_no_writes = True

    def __init__(self) -> None:
        self.killed: EtcdHandle | None = None
        self.leader: PostgresHandle | None = None
        self.watch: LeaderWatch | None = None

    def _etcd_leader(self, ctx: DrillContext) -> EtcdHandle:
        members = ctx.control.etcd_members()
        leaders = [m for m in members if m.role() == "leader"]
        if len(leaders) != 1 or not all(m.is_ready() for m in members):
            raise DrillPreconditionFailed(
                "the etcd cluster is not whole (every member healthy, one leader)",
                hint="see `neurmatic status`",
            )
        return leaders[0]

    def check_ready(self, ctx: DrillContext) -> None:
        self._etcd_leader(ctx)
        current_leader(ctx)

    def run(self, ctx: DrillContext) -> None:
        member = self.killed = self._etcd_leader(ctx)
        self.leader = current_leader(ctx)
        watch = self.watch = LeaderWatch(ctx, self.leader).start()
        before = member.identity()
        try:
            stage = ctx.inject("etcd", f"SIGKILL {member.name} (the etcd leader)", lambda: ctx.kill(member))
            ctx.await_recovery(
                stage,
                lambda: member.identity() not in (None, before) and member.is_ready(),
                f"{member.name} restarted by the watcher and healthy again",
                timeout=MEMBER_REJOIN_SECONDS,
            )
            ctx.await_service(stage)
            ctx.hold(3, "etcd member back")  # Patroni's next rounds through the restored cluster
        finally:
            watch.stop()

    def verify(self, ctx: DrillContext) -> None:
        if self.killed is None or self.leader is None or self.watch is None:
            return
        leaders = self.watch.leaders_seen()
        ctx.check(
            "no PostgreSQL failover",
            leaders == [self.leader.name],
            f"leaders seen: {' → '.join(leaders) or 'none'}",
        )
        fault_at = ctx.recorder.stages[0].fault_at
        failed = [o for o in ctx.recorder.outcomes if o.kind == "write" and not o.ok and o.sent >= fault_at]
        ctx.check("no write failed", not failed, f"{len(failed)} failed writes after the fault")
        new_leaders = [m.name for m in ctx.control.etcd_members() if m.role() == "leader"]
        ctx.note(f"etcd leader before: {self.killed.name}; after: {', '.join(new_leaders) or 'none'}")
