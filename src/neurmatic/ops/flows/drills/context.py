"""What a scenario works with: the deployment and its drill control, the running load's recorder, and the
fault/recovery marks.

A scenario never times anything itself. ``inject`` stamps the fault just before its action runs;
``await_recovery`` stamps the moment the infrastructure is whole again; ``await_service`` waits until the
load itself sees sustained successful writes (the RTO is computed from the load's timeline afterwards,
see :mod:`.measure`). Every wait is bounded by the load's end, so a drill that does not recover ends
with a report saying so instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from neurmatic.deployment.drills import DrillControl, ServiceHandle
from neurmatic.deployment.model import Deployment
from neurmatic.ops.flows.drills.errors import DrillError, DrillPreconditionFailed
from neurmatic.ops.flows.drills.events import Recorder, Stage
from neurmatic.ops.flows.drills.load import Credentials, Endpoint, Load, LoadOptions
from neurmatic.ops.flows.drills.measure import recovery_time
from neurmatic.polling import poll
from neurmatic.settings import Settings

POLL_SECONDS = 0.2
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DrillOptions:
    load: LoadOptions
    rto_objective: float  # seconds
    rpo_objective: float  # seconds
    baseline_seconds: float = 3.0  # load before the first fault, so "normal" is on record
    settle_seconds: float = 3.0  # load after the last recovery, so "recovered" is on record


class DrillContext:
    """Handed to every scenario hook."""

    def __init__(
        self,
        *,
        deployment: Deployment,
        control: DrillControl,
        settings: Settings,
        options: DrillOptions,
        recorder: Recorder,
        endpoint: Endpoint,
        credentials: Credentials,
        load: Load,
        progress: Progress,
    ) -> None:
        self.deployment = deployment
        self.control = control  # the platform's servers: kill, start, ask what each one is
        self.settings = settings  # the API's own settings (app.env): its database and Redis
        self.options = options
        self.recorder = recorder
        self.endpoint = endpoint
        self.credentials = credentials  # the load's session, signed in before any fault
        self.load = load
        self.progress = progress

    # -- time ------------------------------------------------------------------------------------

    def remaining(self) -> float:
        """Seconds until the load's duration runs out (every wait stops there)."""
        return max(0.0, self.options.load.duration - self.recorder.now())

    def hold(self, seconds: float, phase: str | None = None) -> None:
        """Let the load run for ``seconds`` (bounded by its end), optionally as a new phase."""
        if phase:
            self.recorder.mark_phase(phase)
        time.sleep(min(seconds, self.remaining()))

    # -- faults and recovery ------------------------------------------------------------------------

    def inject(
        self, name: str, description: str, action: Callable[[], object], *, struck_on_return: bool = False
    ) -> Stage:
        """Open stage ``name`` (fault time = now), then run ``action``, the fault itself.

        ``struck_on_return``: the fault has struck when ``action`` returns (a kill that waits for the
        processes to die), so a request sent in between is in flight, not sent after the fault. Not for
        an action that lasts (a switchover): what is sent while it runs is sent during the fault."""
        stage = self.recorder.open_stage(name, description)
        self.progress(f"{name}: {description}")
        action()
        if struck_on_return:
            self.recorder.mark_struck(stage)
        return stage

    def await_recovery(
        self, stage: Stage, recovered: Callable[[], bool], what: str, *, timeout: float | None = None
    ) -> bool:
        """Poll ``recovered`` until true (then stamp the stage recovered with ``what``), or time out."""
        seconds = min(timeout or self.remaining(), self.remaining())
        polled = poll(recovered, timeout=seconds, interval=POLL_SECONDS)  # a probe that raises: "not yet"
        if polled.done:
            self.recorder.mark_recovered(stage, what)
            self.progress(f"{stage.name}: {what} after {self.recorder.now() - stage.fault_at:.1f}s")
            return True
        self.progress(f"{stage.name}: not recovered ({what}) within the drill's time ({polled.why})")
        return False

    def await_service(self, stage: Stage, *, timeout: float | None = None) -> float | None:
        """Wait until the load's writes succeed again, sustained; the RTO so far, or None."""
        polled = poll(
            lambda: recovery_time(self.recorder.snapshot(), stage.fault_at),
            timeout=min(timeout or self.remaining(), self.remaining()),
            interval=POLL_SECONDS,
            done=lambda rto: rto is not None,
            catch=(),
        )
        if polled.done and polled.value is not None:
            rto = polled.value
            self.recorder.mark_phase(f"{stage.name}: service back")
            self.progress(f"{stage.name}: writes succeed again, RTO {rto:.2f}s")
            return rto
        self.progress(f"{stage.name}: writes did not recover within the drill's time")
        return None

    def kill(self, service: ServiceHandle) -> int:
        """SIGKILL ``service``'s whole process group (a crash: no shutdown, no goodbye) and wait until its
        processes are dead; its pid."""
        return self.kill_at_once([service])[0]

    def kill_at_once(self, services: Sequence[ServiceHandle]) -> list[int]:
        """SIGKILL every one of ``services`` first, then wait until all their processes are dead (waiting
        between the signals would let the last ones serve alone a little longer); their pids."""
        pids = []
        for service in services:
            pid = service.kill()
            if pid is None:
                raise DrillPreconditionFailed(f"{service.name} is not running", hint="`neurmatic up` first")
            pids.append(pid)
        for service, pid in zip(services, pids, strict=True):
            if not service.await_killed(pid):
                raise DrillError(
                    f"{service.name} (pid {pid}) still runs after SIGKILL",
                    hint="a process stuck in the kernel (uninterruptible I/O) cannot die; look at "
                    f"`ps -o pid,stat,wchan -g {pid}`",
                )
        return pids

    # -- results -------------------------------------------------------------------------------------

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record a verified fact; a failed one fails the drill."""
        self.recorder.add_check(name, ok, detail)
        self.progress(f"{'✓' if ok else '✗'} {name}" + (f": {detail}" if detail else ""))
        return ok

    def note(self, text: str) -> None:
        """A finding for the report (something an operator should read)."""
        self.recorder.note(text)
