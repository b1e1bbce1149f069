"""What a drill records: every request of the load, the phases, and each fault's stage.

Times are seconds on one monotonic clock, counted from the drill's start, so RTO arithmetic never
suffers a wall-clock step (NTP); :class:`Recorder` keeps the wall time of that start for the report.
The recorder is written by the load's threads and the scenario's thread at once, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

FAULT_PHASE_SUFFIX = ": fault"  # the phase a stage's fault opens: '<stage>: fault'

RequestKind = Literal["write", "read"]


@dataclass(frozen=True)
class Outcome:
    """One request of the load: when it was sent and answered, and how it ended.

    ``ref`` is the id of the row an acknowledged write created (what the RPO check looks up);
    ``reason`` says why a request failed ("HTTP 502 (BAD_GATEWAY)", "ConnectError", ...).
    """

    kind: RequestKind
    seq: int
    sent: float
    done: float
    ok: bool
    status: int | None = None
    reason: str | None = None
    ref: str | None = None


@dataclass
class Stage:
    """One fault of a scenario: what was done, when, and when the system was whole again.

    ``fault_at`` is taken just before the fault's action runs (so a measured RTO is never too short);
    ``struck_at``, for a fault that has struck once its action returns (a kill that waited for the
    processes to die), when it returned: a request sent in between may have met the service before the
    fault or during it, so it counts as in flight, not as sent after the fault.
    ``recovered_at`` is when the scenario saw the infrastructure recovered (a process restarted, a
    new master agreed on): the service may have come back earlier (that is the RTO) or later.
    """

    name: str
    description: str
    fault_at: float
    recovered_at: float | None = None
    recovery_detail: str = ""
    struck_at: float | None = None


@dataclass(frozen=True)
class Check:
    """A yes/no fact a scenario verified (a session survived, a queued job ran)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Recorder:
    """The drill's timeline, shared by the load threads and the scenario."""

    clock: Callable[[], float] = time.monotonic
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    outcomes: list[Outcome] = field(default_factory=list)
    phases: list[tuple[float, str]] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # A scenario's own measurements (``leader_before``, ``detection_seconds``…), for scripts comparing runs.
    figures: dict[str, float | str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._origin = self.clock()
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the drill started."""
        return self.clock() - self._origin

    def wall(self, t: float) -> datetime:
        """The wall time of drill time ``t`` (for the report only)."""
        return self.started_wall + timedelta(seconds=t)

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def mark_phase(self, name: str) -> None:
        """From now on, requests sent belong to phase ``name`` (failures are counted per phase)."""
        with self._lock:
            self.phases.append((self.now(), name))

    def open_stage(self, name: str, description: str) -> Stage:
        stage = Stage(name, description, self.now())
        with self._lock:
            self.stages.append(stage)
            self.phases.append((stage.fault_at, f"{name}{FAULT_PHASE_SUFFIX}"))
        return stage

    def mark_struck(self, stage: Stage) -> None:
        with self._lock:
            stage.struck_at = self.now()

    def mark_recovered(self, stage: Stage, detail: str) -> None:
        with self._lock:
            stage.recovered_at, stage.recovery_detail = self.now(), detail

    def add_check(self, name: str, ok: bool, detail: str = "") -> Check:
        check = Check(name, ok, detail)
        with self._lock:
            self.checks.append(check)
        return check

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def snapshot(self) -> list[Outcome]:
        """A copy of the outcomes so far, safe to read while the load still runs."""
        with self._lock:
            return list(self.outcomes)
