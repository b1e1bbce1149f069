"""``db-failure``: the guide's "Database failure", rehearsed by crashing the PostgreSQL primary.

The fault is a SIGKILL of the primary's whole process group. Detection is the primary refusing
connections (immediate after a crash); the recovery is ``neurmatic failover db``: the standby is
promoted, the old primary fenced, and the API follows through its multi-host URL without a restart.
The RPO is what asynchronous replication had not shipped at the crash: every acknowledged write is
looked up afterwards. ``restore`` rebuilds the old primary as the new standby, so the topology is whole.
"""

from __future__ import annotations

from neurmatic.deployment.drills import DrillControl, PostgresHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.ops.flows.failover.orchestrate import FailoverFailed, failover_database, rebuild_standby
from neurmatic.polling import poll

DETECTION_TIMEOUT_SECONDS = 15.0


@register
class DbFailure(Scenario):
    name = "db-failure"
    summary = (
        "SIGKILL the PostgreSQL primary; `neurmatic failover db` promotes the standby and fences the old "
        "primary as soon as it stops answering; afterwards the old primary is rebuilt as the standby."
    )

    def __init__(self) -> None:
        self.killed: PostgresHandle | None = None
        self.promoted: PostgresHandle | None = None

    def check_ready(self, ctx: DrillContext) -> None:
        try:
            primary = ctx.control.postgres_primary()
        except FailoverFailed as exc:
            raise DrillPreconditionFailed(exc.message, hint=exc.hint) from exc
        if not primary.streams_to(_other(ctx.control, primary).name):
            raise DrillPreconditionFailed(
                "the standby is not streaming from the primary", hint="run `neurmatic standby rebuild`"
            )

    def run(self, ctx: DrillContext) -> None:
        primary = self.killed = ctx.control.postgres_primary()
        self.promoted = _other(ctx.control, primary)
        stage = ctx.inject(
            "primary", f"SIGKILL {primary.name} (the PostgreSQL primary)", lambda: ctx.kill(primary)
        )
        # detection: what a monitor (or Patroni) would see
        if not poll(lambda: not primary.answers(), timeout=DETECTION_TIMEOUT_SECONDS, interval=0.1).done:
            ctx.check("the killed primary stopped answering", False, "it still answers")
            return
        ctx.recorder.mark_phase("failure detected")
        result = failover_database(ctx.deployment, progress=ctx.progress)
        ctx.note(
            f"failover: {result.new_primary} promoted in {result.elapsed_seconds:.2f}s; "
            f"{result.old_primary} is {result.old_primary_now}"
        )
        promoted = self.promoted
        ctx.await_recovery(stage, promoted.takes_writes, f"{promoted.name} takes writes")
        ctx.await_service(stage)

    def verify(self, ctx: DrillContext) -> None:
        if self.killed is not None:
            ctx.check(
                f"{self.killed.name} is fenced (it can never take writes again)",
                self.killed.fenced,
                self.killed.fence_reason() if self.killed.fenced else "no fence marker",
            )

    def restore(self, ctx: DrillContext) -> None:
        """The guide's last step, automated: the old primary comes back as the new standby."""
        if self.killed is None:
            return
        rebuilt = rebuild_standby(ctx.deployment, progress=ctx.progress)
        ctx.check(
            f"{rebuilt.node} rejoined as the standby of {rebuilt.primary}",
            True,
            f"{rebuilt.method} in {rebuilt.elapsed_seconds:.1f}s"
            + (f" (pg_rewind not used: {rebuilt.fallback_reason})" if rebuilt.fallback_reason else ""),
        )


def _other(control: DrillControl, node: PostgresHandle) -> PostgresHandle:
    """The node that is not ``node`` (the topology has two)."""
    return next(n for n in control.postgres_nodes() if n.name != node.name)
