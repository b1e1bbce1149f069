"""``backend-failure``: the guide's "Backend API failure", rehearsed by crashing API instances.

Stage 1 kills one instance: nginx should route around it (connection refused is retried on the other
upstream) while the watcher restarts it. Stage 2 kills every instance at once: nothing serves until the
watcher has restarted them, and that outage is the RTO.
"""

from __future__ import annotations

from neurmatic.deployment.drills import ServiceHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.events import Stage
from neurmatic.ops.flows.drills.measure import all_stage_figures, stage_figures
from neurmatic.ops.flows.drills.registry import Scenario, register

ONE_INSTANCE = "one-instance"


def restarted(service: ServiceHandle, old_pid: int | None) -> bool:
    """A new process of ``service`` runs and answers its readiness probe."""
    pid = service.running_pid()
    return pid is not None and pid != old_pid and service.is_ready()


@register
class BackendFailure(Scenario):
    name = "backend-failure"
    summary = (
        "SIGKILL one API instance, then every API instance at once; the watcher restarts them and "
        "nginx routes around the dead ones."
    )
    needs_watcher = True

    def check_ready(self, ctx: DrillContext) -> None:
        if len(ctx.control.api_instances()) < 2:
            raise DrillPreconditionFailed(
                "this drill needs at least two API instances", hint="the topology runs two by default"
            )

    def run(self, ctx: DrillContext) -> None:
        apis = ctx.control.api_instances()
        first = apis[0]
        old = {api.name: api.running_pid() for api in apis}
        one = ctx.inject(
            ONE_INSTANCE, f"SIGKILL {first.name}", lambda: ctx.kill(first), struck_on_return=True
        )
        ctx.await_recovery(
            one, lambda: restarted(first, old[first.name]), f"the watcher restarted {first.name}"
        )
        if ctx.await_service(one) is None:
            return
        self._explain_in_flight(ctx, one)

        old = {api.name: api.running_pid() for api in apis}
        names = ", ".join(api.name for api in apis)
        every = ctx.inject(
            "all-instances", f"SIGKILL {names} at once", lambda: ctx.kill_at_once(apis), struck_on_return=True
        )
        ctx.await_recovery(
            every,
            lambda: all(restarted(a, old[a.name]) for a in apis),
            "the watcher restarted every API instance",
        )
        ctx.await_service(every)

    def verify(self, ctx: DrillContext) -> None:
        """With one healthy instance left, no request may fail but a write cut off on the killed one:
        nginx retries what it may (connection refused, or a GET cut off) on the survivor."""
        stages = all_stage_figures(ctx.recorder.snapshot(), ctx.recorder.stages)
        one = next((s for s in stages if s.name == ONE_INSTANCE), None)
        if one is None:
            return
        ctx.check(
            "no request failed while one healthy instance was left",
            one.failed_after_fault == 0 and one.failed_reads == 0,
            f"{one.failed_after_fault} sent after the kill and {one.failed_reads} read(s) failed "
            f"({', '.join(one.reasons) or 'no reason recorded'})",
        )

    def restore(self, ctx: DrillContext) -> None:
        """Nothing to do by hand: the watcher restarts the instances (the runner waits for them)."""

    @staticmethod
    def _explain_in_flight(ctx: DrillContext, stage: Stage) -> None:
        figures = stage_figures(ctx.recorder.snapshot(), stage)
        if figures.failed_in_flight:
            ctx.note(
                f"{stage.name}: {figures.failed_in_flight} request(s) in flight on the killed instance "
                "failed. "
                "nginx replays idempotent requests on the other upstream but never a POST that reached "
                "a backend (proxy_next_upstream without non_idempotent), because the dead backend may "
                "have committed it: a replay could write twice. Clients must retry writes idempotently."
            )
        if figures.failed_after_fault:
            ctx.note(
                f"{stage.name}: {figures.failed_after_fault} request(s) sent after the kill failed "
                f"({', '.join(figures.reasons)}): nginx did not route every new request around the dead "
                "instance."
            )
