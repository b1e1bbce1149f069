"""RTO, RPO and failure counts from a recorded timeline: pure functions, tested with hand-made ones.

Definitions (the ones the report states):

* **RTO of a stage**: from the fault to the acknowledgement of the first write *sent after the fault*
  that starts a run of :data:`SUSTAINED_WRITES` consecutive successful writes. A single lucky write
  between failures is not recovery; a stage whose load ended before such a run has no RTO (not
  recovered). A scenario whose fault is lost data (``rto_until_restored``) counts until the data is
  back as well: the API answering over missing rows is not the service restored.
* **RPO**: acknowledged writes that are missing afterwards. Each lost write is charged to the first
  fault at or after its acknowledgement (the last fault when it was acknowledged after every fault);
  the RPO in seconds is the longest gap "that fault minus the write's acknowledgement", 0 when nothing
  was lost. A write acknowledged after its fault and lost anyway still counts in ``lost_writes``.
* **Failures by phase**: a request belongs to the phase that was current when it was *sent*, unless
  a later fault struck while it was in flight: then it belongs to that fault (a request sent in stage 1
  and cut off by stage 2's kill is stage 2's failure, never stage 1's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from neurmatic.ops.flows.drills.events import FAULT_PHASE_SUFFIX, Outcome, Stage

SUSTAINED_WRITES = 3


@dataclass(frozen=True)
class StageFigures:
    """What one fault cost: the RTO, the time to full recovery, and the requests it failed."""

    name: str
    rto_seconds: float | None
    restored_seconds: float | None
    in_flight_at_fault: int
    failed_in_flight: int
    failed_after_fault: int
    failed_writes: int
    failed_reads: int
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def recovered(self) -> bool:
        return self.rto_seconds is not None


@dataclass(frozen=True)
class RpoFigures:
    checked_writes: int
    lost_writes: int
    seconds: float
    lost_refs: tuple[str, ...] = ()


def writes_in_send_order(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return sorted((o for o in outcomes if o.kind == "write"), key=lambda o: (o.sent, o.seq))


def recovery_time(
    outcomes: Iterable[Outcome],
    fault_at: float,
    *,
    until: float | None = None,
    sustained: int = SUSTAINED_WRITES,
) -> float | None:
    """Seconds from ``fault_at`` to the first sustained successful write (see the module docstring).

    Only writes sent in ``[fault_at, until)`` count; None when no sustained run was seen.
    """
    writes = [
        w for w in writes_in_send_order(outcomes) if w.sent >= fault_at and (until is None or w.sent < until)
    ]
    for index, write in enumerate(writes):
        run = writes[index : index + sustained]
        if len(run) == sustained and all(w.ok for w in run):
            return max(0.0, write.done - fault_at)
    return None


def stage_figures(outcomes: Sequence[Outcome], stage: Stage, *, until: float | None = None) -> StageFigures:
    """Figures of ``stage``; ``until`` is the next stage's fault (its requests are not this one's)."""

    def in_window(o: Outcome) -> bool:
        # Sent before the next fault, and answered before it too: one still in flight when the next fault
        # struck is that fault's (its in-flight count).
        return until is None or (o.sent < until and o.done <= until)

    # In flight: sent before the fault had struck (the killed process was dead), answered after it began.
    struck = stage.fault_at if stage.struck_at is None else stage.struck_at
    in_flight = [o for o in outcomes if o.sent < struck and o.done > stage.fault_at]
    after = [o for o in outcomes if o.sent >= struck and in_window(o)]
    failed = [o for o in (*in_flight, *after) if not o.ok]
    return StageFigures(
        name=stage.name,
        rto_seconds=recovery_time(outcomes, stage.fault_at, until=until),
        restored_seconds=None if stage.recovered_at is None else stage.recovered_at - stage.fault_at,
        in_flight_at_fault=len(in_flight),
        failed_in_flight=sum(1 for o in in_flight if not o.ok),
        failed_after_fault=sum(1 for o in after if not o.ok),
        failed_writes=sum(1 for o in failed if o.kind == "write"),
        failed_reads=sum(1 for o in failed if o.kind == "read"),
        reasons=dict(Counter(o.reason or "unknown" for o in failed).most_common()),
    )


def all_stage_figures(outcomes: Sequence[Outcome], stages: Sequence[Stage]) -> list[StageFigures]:
    ordered = sorted(stages, key=lambda s: s.fault_at)
    # Each stage's figures end where the next fault begins; the last one runs to the end.
    ends: list[float | None] = [*(s.fault_at for s in ordered[1:]), None][: len(ordered)]
    return [stage_figures(outcomes, stage, until=until) for stage, until in zip(ordered, ends, strict=True)]


def until_restored(figures: StageFigures) -> StageFigures:
    """``figures`` with the RTO counted until the stage's repair as well (rows deleted by mistake: the
    API never stopped, the service is back when the rows are); None while either is missing."""
    if figures.rto_seconds is None or figures.restored_seconds is None:
        return replace(figures, rto_seconds=None)
    return replace(figures, rto_seconds=max(figures.rto_seconds, figures.restored_seconds))


def rpo(outcomes: Iterable[Outcome], found_refs: set[str], fault_times: Sequence[float]) -> RpoFigures:
    """Lost acknowledged writes, given the refs found afterwards and the times of the faults."""
    acked = [o for o in outcomes if o.kind == "write" and o.ok and o.ref is not None]
    lost = sorted((o for o in acked if o.ref not in found_refs), key=lambda o: o.done)
    faults = sorted(fault_times)
    seconds = 0.0
    for write in lost:
        charged = next((f for f in faults if f >= write.done), faults[-1] if faults else write.done)
        seconds = max(seconds, charged - write.done)
    return RpoFigures(len(acked), len(lost), seconds, tuple(o.ref for o in lost if o.ref))


def phase_of(sent: float, phases: Sequence[tuple[float, str]], done: float | None = None) -> str:
    """The phase current at ``sent`` (phases are (start, name), in any order), or the last fault that
    began while the request was in flight (before ``done``)."""
    current = "start"
    for start, name in sorted(phases):
        if start <= sent or (done is not None and start < done and name.endswith(FAULT_PHASE_SUFFIX)):
            current = name
    return current


def failures_by_phase(outcomes: Iterable[Outcome], phases: Sequence[tuple[float, str]]) -> dict[str, int]:
    counts = Counter(phase_of(o.sent, phases, o.done) for o in outcomes if not o.ok)
    return dict(counts)


def totals(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    """``{"write": {"ok": n, "failed": n}, "read": {...}}``."""
    result = {kind: {"ok": 0, "failed": 0} for kind in ("write", "read")}
    for outcome in outcomes:
        result[outcome.kind]["ok" if outcome.ok else "failed"] += 1
    return result
