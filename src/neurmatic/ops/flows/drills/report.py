"""The drill's report: figures against the objectives, as JSON and Markdown in ``<state>/drills/``.

Both files are written atomically (a crash leaves the previous state, never half a report) and named
``<UTC timestamp>-<scenario>`` so they sort by time. The JSON is the record for machines and the
quarterly review; the Markdown is what an operator attaches to the drill's ticket.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurmatic.ops.flows.drills.alerts import AlertSeen
from neurmatic.ops.flows.drills.events import Recorder, Stage
from neurmatic.ops.flows.drills.measure import RpoFigures, StageFigures, failures_by_phase, totals
from neurmatic.private_files import write_private_file


@dataclass
class DrillReport:
    scenario: str
    summary: str
    recorder: Recorder
    stages: list[StageFigures]
    rpo: RpoFigures | None  # None when the lookup itself failed (RPO unknown)
    rto_objective: float
    rpo_objective: float
    rate: float
    finished_at: float
    removed_writes: int = 0
    # What Prometheus raised from the first fault to the report (None: no Prometheus; a str: why unknown).
    alerts: list[AlertSeen] | str | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def rto_seconds(self) -> float | None:
        """The worst stage's RTO (None when any stage did not recover)."""
        if not self.stages or any(not s.recovered for s in self.stages):
            return None
        return max(s.rto_seconds for s in self.stages if s.rto_seconds is not None)

    @property
    def recovered(self) -> bool:
        return bool(self.stages) and all(s.recovered and s.restored_seconds is not None for s in self.stages)

    @property
    def rto_met(self) -> bool:
        return self.rto_seconds is not None and self.rto_seconds <= self.rto_objective

    @property
    def rpo_met(self) -> bool:
        return self.rpo is not None and self.rpo.seconds <= self.rpo_objective

    @property
    def checks_ok(self) -> bool:
        return all(c.ok for c in self.recorder.checks)

    @property
    def passed(self) -> bool:
        return self.recovered and self.rto_met and self.rpo_met and self.checks_ok

    def as_json(self) -> dict[str, Any]:
        rec = self.recorder
        failed = [o for o in rec.outcomes if not o.ok]
        stage_info = {s.name: s for s in rec.stages}
        return {
            "scenario": self.scenario,
            "summary": self.summary,
            "passed": self.passed,
            "recovered": self.recovered,
            "started_at": rec.started_wall.isoformat(timespec="milliseconds"),
            "finished_at": rec.wall(self.finished_at).isoformat(timespec="milliseconds"),
            "duration_seconds": round(self.finished_at, 3),
            "objectives": {"rto_seconds": self.rto_objective, "rpo_seconds": self.rpo_objective},
            "rto": {"seconds": _round(self.rto_seconds), "met": self.rto_met},
            "rpo": {
                "met": self.rpo_met,
                "known": self.rpo is not None,
                **({} if self.rpo is None else _rpo_json(self.rpo)),
            },
            "load": {"writes_per_second": self.rate, "reads_per_second": self.rate, **totals(rec.outcomes)},
            "failed_requests": {
                "total": len(failed),
                "by_phase": failures_by_phase(rec.outcomes, rec.phases),
            },
            "stages": [
                {
                    **{k: _round(v) if isinstance(v, float) else v for k, v in asdict(s).items()},
                    "description": stage_info[s.name].description,
                    "fault_at": rec.wall(stage_info[s.name].fault_at).isoformat(timespec="milliseconds"),
                    "fault_took_seconds": _fault_took(stage_info[s.name]),
                    "recovery": stage_info[s.name].recovery_detail,
                }
                for s in self.stages
            ],
            "checks": [asdict(c) for c in rec.checks],
            "notes": list(rec.notes),
            "figures": dict(rec.figures),
            "removed_writes": self.removed_writes,
            "alerts": [a.as_json() for a in self.alerts] if isinstance(self.alerts, list) else self.alerts,
        }

    def write(self, directory: Path) -> list[Path]:
        """Write ``<stamp>-<scenario>.json`` and ``.md`` into ``directory``; their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{self.recorder.started_wall.strftime('%Y%m%dT%H%M%SZ')}-{self.scenario}"
        json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
        write_private_file(json_path, json.dumps(self.as_json(), indent=2) + "\n")
        write_private_file(md_path, self.markdown())
        self.files = [json_path, md_path]
        return self.files

    def summary_lines(self) -> list[str]:
        """The printed summary: one line per figure, each with ✓ or ✗."""
        counts = totals(self.recorder.outcomes)
        ok = counts["write"]["ok"] + counts["read"]["ok"]
        failed = counts["write"]["failed"] + counts["read"]["failed"]
        lines = [f"drill {self.scenario}: {'PASSED' if self.passed else 'FAILED'}"]
        for s in self.stages:
            lines.append(
                f"  stage {s.name}: RTO {_secs(s.rto_seconds)}, restored in {_secs(s.restored_seconds)}, "
                f"{s.failed_writes} writes + {s.failed_reads} reads failed "
                f"({s.failed_in_flight} of {s.in_flight_at_fault} in flight at the fault)"
            )
        lines.append(
            f"  {_mark(self.rto_met)} RTO {_secs(self.rto_seconds)} (objective {_secs(self.rto_objective)})"
        )
        rpo = (
            "unknown"
            if self.rpo is None
            else f"{self.rpo.lost_writes} of {self.rpo.checked_writes} acknowledged writes lost, "
            f"{_secs(self.rpo.seconds)}"
        )
        lines.append(f"  {_mark(self.rpo_met)} RPO {rpo} (objective {_secs(self.rpo_objective)})")
        lines.append(f"  requests: {ok} ok, {failed} failed")
        lines.extend(
            f"  {_mark(c.ok)} {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.recorder.checks
        )
        lines.extend(f"  note: {n}" for n in self.recorder.notes)
        return lines

    def markdown(self) -> str:
        data = self.as_json()
        out = [
            f"# DR drill: {self.scenario}",
            "",
            f"{self.summary}",
            "",
            f"**Result: {'PASSED' if self.passed else 'FAILED'}**, started {data['started_at']}, "
            f"{data['duration_seconds']:.0f} s, load {self.rate:g} writes/s + {self.rate:g} reads/s.",
            "",
            "| Objective | Measured | Target | Met |",
            "|---|---|---|---|",
            f"| RTO | {_secs(self.rto_seconds)} | {_secs(self.rto_objective)} | {_mark(self.rto_met)} |",
            f"| RPO | {'unknown' if self.rpo is None else _secs(self.rpo.seconds)} "
            f"({'?' if self.rpo is None else self.rpo.lost_writes} writes lost) "
            f"| {_secs(self.rpo_objective)} | {_mark(self.rpo_met)} |",
            "",
            "## Stages",
            "",
            "| Stage | Fault | RTO | Restored | Failed writes | Failed reads | In flight at fault (failed) |",
            "|---|---|---|---|---|---|---|",
        ]
        for s, info in zip(self.stages, data["stages"], strict=True):
            out.append(
                f"| {s.name} | {info['description']} | {_secs(s.rto_seconds)} | {_secs(s.restored_seconds)} "
                f"| {s.failed_writes} | {s.failed_reads} | {s.in_flight_at_fault} ({s.failed_in_flight}) |"
            )
        out += ["", "## Failed requests by phase", ""]
        out += [f"- {phase}: {count}" for phase, count in data["failed_requests"]["by_phase"].items()] or [
            "- none"
        ]
        reasons = {r: n for s in self.stages for r, n in s.reasons.items()}
        out += ["", "## Failure reasons", ""] + ([f"- {r}: {n}" for r, n in reasons.items()] or ["- none"])
        out += ["", "## Checks", ""]
        out += [
            f"- {_mark(c.ok)} {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.recorder.checks
        ] or ["- none"]
        out += ["", "## Alerts (from the first fault)", "", *self._alert_lines()]
        if self.recorder.notes:
            out += ["", "## Findings", ""] + [f"- {n}" for n in self.recorder.notes]
        return "\n".join(out) + "\n"

    def _alert_lines(self) -> list[str]:
        if self.alerts is None:
            return ["- no Prometheus is known for this deployment"]
        if isinstance(self.alerts, str):
            return [f"- unknown: {self.alerts}"]
        if not self.alerts:
            return ["- none raised"]
        lines = ["| Alert | Severity | Instance | Pending after | Firing after |", "|---|---|---|---|---|"]
        for a in self.alerts:
            fired = (
                "not within the drill" if a.firing_after_seconds is None else _secs(a.firing_after_seconds)
            )
            pending = _secs(a.pending_after_seconds)
            lines.append(f"| {a.alert} | {a.severity} | {a.instance or '—'} | {pending} | {fired} |")
        return lines


def _rpo_json(rpo: RpoFigures) -> dict[str, Any]:
    return {
        "checked_writes": rpo.checked_writes,
        "lost_writes": rpo.lost_writes,
        "seconds": _round(rpo.seconds),
        "lost_ids": list(rpo.lost_refs[:50]),
    }


def _fault_took(stage: Stage) -> float | None:
    """How long the fault's action took (a kill: until the processes were dead)."""
    return None if stage.struck_at is None else _round(stage.struck_at - stage.fault_at)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 3600:
        return f"{value / 3600:g} h"
    return f"{value:.2f} s" if value < 60 else f"{value:.0f} s"
