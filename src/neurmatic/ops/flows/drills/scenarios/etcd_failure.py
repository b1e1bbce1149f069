"""``etcd-failure``: the etcd leader dies and stays dead for a while (the watcher is told to leave it);
the other two members keep a quorum and elect a new leader within about a second, Patroni's leader key
survives (its ttl is far longer), so no PostgreSQL failover happens and no write fails. Then the watcher
restarts the member, which rejoins with its data directory.
"""

from __future__ import annotations

from neurmatic.deployment.drills import EtcdHandle, PostgresHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.leader_fault import current_leader
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.polling import poll

MEMBER_REJOIN_SECONDS = 60.0
ELECTION_TIMEOUT_SECONDS = 10.0  # etcd's election timeout here is 1 s
DOWN_SECONDS = 5.0  # writes go on with two members before the third comes back


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
            member.keep_down()  # else the watcher restarts it within a second and it may win the election
            try:
                stage = ctx.inject(
                    "etcd", f"SIGKILL {member.name} (the etcd leader)", lambda: ctx.kill(member)
                )
                self._await_election(ctx, member, stage.fault_at)
                ctx.hold(DOWN_SECONDS, "two etcd members")
            finally:
                member.let_restart()
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
        watch.report_timing(stage.fault_at)

    def _await_election(self, ctx: DrillContext, killed: EtcdHandle, fault_at: float) -> None:
        """The leader the two survivors elect, and how long that took."""
        survivors = [m for m in ctx.control.etcd_members() if m.name != killed.name]
        polled = poll(
            lambda: next((m.name for m in survivors if m.role() == "leader"), None),
            timeout=ELECTION_TIMEOUT_SECONDS,
            interval=0.05,
            done=lambda name: name is not None,
        )
        figures = ctx.recorder.figures
        figures["etcd_leader_before"], figures["etcd_leader_after"] = killed.name, polled.value
        figures["etcd_election_seconds"] = round(ctx.recorder.now() - fault_at, 3) if polled.done else None
        ctx.check(
            "the two other etcd members elected a leader",
            polled.done,
            f"{polled.value} after {ctx.recorder.now() - fault_at:.2f}s" if polled.done else polled.why,
        )

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
        figures = ctx.recorder.figures
        elected, seconds = figures.get("etcd_leader_after"), figures.get("etcd_election_seconds")
        ctx.note(f"etcd leader before: {self.killed.name}; elected next: {elected} after {seconds}s")
