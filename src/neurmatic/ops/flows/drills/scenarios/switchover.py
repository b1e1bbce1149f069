"""``switchover``: a planned move of the PostgreSQL leader under load (maintenance on the leader's
host), through Patroni's switchover: the leader stops cleanly, the synchronous standby, which has every
commit, is promoted, and the old leader restarts as its replica. Writes pause briefly; none is lost.
"""

from __future__ import annotations

from neurmatic.deployment.drills import PostgresHandle
from neurmatic.deployment.failover import FailoverResult
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.leader_watch import LeaderWatch, check_rejoined, restore_cluster
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.ops.flows.drills.scenarios.db_failure import current_leader
from neurmatic.ops.flows.failover.orchestrate import failover_database


@register
class Switchover(Scenario):
    name = "switchover"
    summary = (
        "Patroni's switchover under load: the leader role moves to the synchronous standby, writes "
        "pause briefly, none is lost, and the old leader follows as a replica."
    )
    loses_no_writes = True

    def __init__(self) -> None:
        self.old: PostgresHandle | None = None
        self.watch: LeaderWatch | None = None
        self.result: FailoverResult | None = None

    def check_ready(self, ctx: DrillContext) -> None:
        current_leader(ctx)

    def run(self, ctx: DrillContext) -> None:
        old = self.old = current_leader(ctx)
        watch = self.watch = LeaderWatch(ctx, old).start()

        def switch() -> None:
            self.result = failover_database(ctx.deployment, switchover=True, progress=ctx.progress)

        try:
            stage = ctx.inject("switchover", f"Patroni switchover away from {old.name}", switch)
            ctx.await_recovery(
                stage,
                lambda: watch.new_leader_writable_at(stage.fault_at) is not None,
                "the new leader takes writes",
            )
            ctx.await_service(stage)
        finally:
            watch.stop()
        watch.report_timing(stage.fault_at)

    def verify(self, ctx: DrillContext) -> None:
        if self.old is None or self.watch is None:
            return
        self.watch.check_single_primary()
        result = self.result
        ctx.check(
            "Patroni switched the leader over",
            result is not None and result.new_primary != self.old.name,
            f"{result.old_primary} → {result.new_primary} in {result.elapsed_seconds:.2f}s"
            if result
            else "no result",
        )
        check_rejoined(ctx, self.old.name)

    def restore(self, ctx: DrillContext) -> None:
        if self.old is not None:
            restore_cluster(ctx)
