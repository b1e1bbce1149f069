"""``switchover``: a planned move of the PostgreSQL leader under load (maintenance on the leader's
host), through Patroni's switchover: the leader stops cleanly, the synchronous standby, which has every
commit, is promoted, and the old leader restarts as its replica. Writes pause briefly; none is lost.
"""

from __future__ import annotations

from neurmatic.deployment.drills import PostgresHandle
from neurmatic.deployment.failover import FailoverResult
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.leader_fault import LeaderFault
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch, check_rejoined
from neurmatic.ops.flows.drills.registry import register
from neurmatic.ops.flows.failover.orchestrate import failover_database


@register
class Switchover(LeaderFault):
    name = "switchover"
    summary = (
        "Patroni's switchover under load: the leader role moves to the synchronous standby, writes "
        "pause briefly, none is lost, and the old leader follows as a replica."
    )
    stage = "switchover"

    def __init__(self) -> None:
        super().__init__()
        self.result: FailoverResult | None = None

    def describe(self, leader: PostgresHandle) -> str:
        return f"Patroni switchover away from {leader.name}"

    def fault(self, ctx: DrillContext, leader: PostgresHandle) -> None:
        self.result = failover_database(ctx.deployment, switchover=True, progress=ctx.progress)

    def check_outcome(self, ctx: DrillContext, leader: PostgresHandle, watch: LeaderWatch) -> None:
        result = self.result
        ctx.check(
            "Patroni switched the leader over",
            result is not None and result.new_primary != leader.name,
            f"{result.old_primary} → {result.new_primary} in {result.elapsed_seconds:.2f}s"
            if result
            else "no result",
        )
        check_rejoined(ctx, leader.name)
