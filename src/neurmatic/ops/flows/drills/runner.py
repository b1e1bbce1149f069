"""One drill from start to report: preconditions, the drill user, load, fault, recovery, RPO, restore.

Whatever the scenario does (or throws), the load is stopped, the scenario's ``restore`` runs, the
topology is checked whole, the drill's writes are removed and a report is written: an interrupted
drill must not leave a broken system or a silent gap in the record.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from neurmatic.deployment.drills import DrillControl
from neurmatic.deployment.model import Deployment
from neurmatic.errors import MonitoringError
from neurmatic.ops.flows.drills.alerts import AlertSeen, alerts_seen
from neurmatic.ops.flows.drills.context import DrillContext, DrillOptions, Progress
from neurmatic.ops.flows.drills.database import (
    DRILL_EMAIL,
    DrillDataUnavailable,
    ensure_drill_user,
    remove_drill_writes,
    surviving_refs,
)
from neurmatic.ops.flows.drills.errors import DrillBusy, DrillPreconditionFailed
from neurmatic.ops.flows.drills.events import Recorder
from neurmatic.ops.flows.drills.evidence import late_service_note
from neurmatic.ops.flows.drills.load import Credentials, Endpoint, Load
from neurmatic.ops.flows.drills.measure import (
    RpoFigures,
    StageFigures,
    all_stage_figures,
    rpo,
    until_restored,
)
from neurmatic.ops.flows.drills.registry import Scenario
from neurmatic.ops.flows.drills.report import DrillReport
from neurmatic.polling import poll

WHOLE_TIMEOUT_SECONDS = 60.0


@contextmanager
def drill_lock(directory: Path) -> Iterator[None]:
    """One drill at a time per topology (an advisory lock in its reports directory, released when the
    process ends)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DrillBusy(
                "another drill is running on this topology", hint="wait for it to finish, then run again"
            ) from exc
        yield


def not_ready(control: DrillControl) -> list[str]:
    """``name (state)`` of every service that is not ready."""
    return [f"{s.name} ({s.state})" for s in control.service_states() if s.state != "ready"]


def check_whole(control: DrillControl, scenario: Scenario) -> None:
    missing = not_ready(control)
    if missing:
        raise DrillPreconditionFailed(
            f"the topology is not whole before the drill: {', '.join(missing)}",
            hint="bring it up with `neurmatic up` and check `neurmatic status`",
        )
    if scenario.needs_watcher and not control.watcher_running():
        raise DrillPreconditionFailed(
            f"the {scenario.name} drill needs the watcher, which is not running",
            hint="`neurmatic up` starts it",
        )


def run_drill(
    deployment: Deployment,
    control: DrillControl,
    scenario: Scenario,
    options: DrillOptions,
    progress: Progress = lambda _m: None,
) -> DrillReport:
    """Run ``scenario`` against ``deployment``, whose servers ``control`` reaches (its platform's);
    the report (already written to disk)."""
    with drill_lock(control.reports_dir):
        check_whole(control, scenario)
        settings = control.app_settings()
        endpoint = Endpoint.of(deployment, options.load.request_timeout)
        recorder = Recorder()
        progress("preparing the drill user")
        credentials = Credentials.sign_in(endpoint, DRILL_EMAIL, ensure_drill_user(settings), recorder.clock)
        run_id = uuid.uuid4().hex[:8]
        load = Load(endpoint, credentials, recorder, options.load, run_id)
        ctx = DrillContext(
            deployment=deployment,
            control=control,
            settings=settings,
            options=options,
            recorder=recorder,
            endpoint=endpoint,
            credentials=credentials,
            load=load,
            progress=progress,
        )
        scenario.check_ready(ctx)
        progress(f"load: {options.load.rate:g} writes/s + {options.load.rate:g} reads/s through nginx")
        load.start()
        interrupted: BaseException | None = None
        try:
            _run_scenario(ctx, scenario)
        except BaseException as exc:  # Ctrl-C: still stop, restore and report, then stop
            interrupted = exc
            ctx.check("the drill ran to its end", False, f"interrupted ({type(exc).__name__})")
        figures, removed = _finish(ctx, scenario, run_id)
        report = _report(ctx, scenario, figures, removed)
        report.write(control.reports_dir)
        if interrupted is not None:
            raise interrupted
        return report


def _finish(ctx: DrillContext, scenario: Scenario, run_id: str) -> tuple[RpoFigures | None, int]:
    """Stop the load, verify, measure the RPO, restore, check the topology whole, clean up."""
    ctx.load.stop()
    if ctx.load.running:
        ctx.note("a load thread did not stop within its request timeout (it is abandoned)")
    ctx.progress("load stopped")
    _guarded(ctx, "verification", lambda: scenario.verify(ctx))
    figures = _rpo(ctx)
    if scenario.loses_no_writes and figures is not None:
        ctx.check(
            "no acknowledged write lost",
            figures.lost_writes == 0,
            f"{figures.lost_writes} of {figures.checked_writes} acknowledged writes missing",
        )
    _guarded(ctx, "restore", lambda: scenario.restore(ctx))
    _check_whole_after(ctx)
    return figures, _remove_writes(ctx, run_id)


def _report(ctx: DrillContext, scenario: Scenario, figures: RpoFigures | None, removed: int) -> DrillReport:
    recorder = ctx.recorder
    stages = all_stage_figures(recorder.outcomes, recorder.stages)
    if scenario.rto_until_restored:
        stages = [until_restored(s) for s in stages]
    _note_server_errors(ctx, stages)
    _note_late_service(ctx, stages)
    return DrillReport(
        alerts=_alerts(ctx),
        scenario=scenario.name,
        summary=scenario.summary,
        recorder=recorder,
        stages=stages,
        rpo=figures,
        rto_objective=ctx.options.rto_objective,
        rpo_objective=ctx.options.rpo_objective,
        rate=ctx.options.load.rate,
        finished_at=recorder.now(),
        removed_writes=removed,
    )


def _alerts(ctx: DrillContext) -> list[AlertSeen] | str | None:
    """The alerts Prometheus raised from the first fault until now (a str: why they are unknown)."""
    url = ctx.deployment.prometheus_url
    recorder = ctx.recorder
    if url is None or not recorder.stages:
        return None
    try:
        return alerts_seen(url, recorder.wall(recorder.stages[0].fault_at), recorder.wall(recorder.now()))
    except MonitoringError as exc:
        return exc.message


def _run_scenario(ctx: DrillContext, scenario: Scenario) -> None:
    ctx.hold(ctx.options.baseline_seconds, "baseline")
    if _guarded(ctx, "scenario", lambda: scenario.run(ctx)):
        ctx.hold(ctx.options.settle_seconds, "after recovery")
    if not ctx.recorder.stages:
        ctx.check("a fault was injected", False, "the scenario ended before injecting any fault")


def _guarded(ctx: DrillContext, what: str, step: Callable[[], object]) -> bool:
    """Run a scenario hook; an exception becomes a failed check (the drill goes on to restore)."""
    try:
        step()
        return True
    except Exception as exc:
        ctx.check(f"{what} completed", False, f"{type(exc).__name__}: {str(exc)[:300]}")
        return False


def _rpo(ctx: DrillContext) -> RpoFigures | None:
    outcomes = ctx.recorder.outcomes
    refs = [o.ref for o in outcomes if o.kind == "write" and o.ok and o.ref]
    ctx.progress(f"RPO: looking up {len(refs)} acknowledged writes in PostgreSQL")
    try:
        found = surviving_refs(ctx.settings, refs)
    except DrillDataUnavailable as exc:
        ctx.check("acknowledged writes looked up", False, exc.message)
        return None
    return rpo(outcomes, found, [s.fault_at for s in ctx.recorder.stages])


def _check_whole_after(ctx: DrillContext) -> None:
    polled = poll(
        lambda: not_ready(ctx.control),
        timeout=WHOLE_TIMEOUT_SECONDS,
        interval=1.0,
        done=lambda m: not m,
        catch=(),
    )
    missing = polled.value or []
    ctx.check("every service ready after the drill", not missing, ", ".join(missing))


def _note_server_errors(ctx: DrillContext, stages: list[StageFigures]) -> None:
    """A 500 during an outage is a finding whatever the scenario: it reads as a bug, not an outage."""
    for stage in stages:
        errors = sum(n for reason, n in stage.reasons.items() if reason.startswith("HTTP 500"))
        if errors:
            ctx.note(
                f"{stage.name}: the API answered {errors} request(s) with 500 INTERNAL_ERROR (an unhandled "
                "exception, see the API logs) while a dependency was down; 503 SERVICE_UNAVAILABLE would "
                "tell clients to retry and monitoring that this is an outage, not a bug."
            )


def _note_late_service(ctx: DrillContext, stages: list[StageFigures]) -> None:
    ordered = sorted(ctx.recorder.stages, key=lambda s: s.fault_at)
    ends = [s.fault_at for s in ordered[1:]] + [ctx.recorder.now()]
    error_log = ctx.control.load_balancer_error_log()
    for figures, stage, until in zip(stages, ordered, ends, strict=True):
        note = late_service_note(figures, stage, ctx.recorder, error_log, until)
        if note:
            ctx.note(note)


def _remove_writes(ctx: DrillContext, run_id: str) -> int:
    try:
        return remove_drill_writes(ctx.settings, run_id)
    except Exception as exc:  # leftovers are drafts of the drill user: worth a note, not a failure
        ctx.note(f"the drill's drafts were not removed ({type(exc).__name__}); they belong to {DRILL_EMAIL}")
        return 0
