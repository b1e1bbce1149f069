"""Evidence for the report: what nginx said about its upstreams while the drill ran.

When writes come back long after the infrastructure did, the cause is usually nginx's passive health
check: after ``max_fails`` errors (refused *or reset* connections) an API instance is skipped for
``fail_timeout``, and with every instance skipped nginx answers "no live upstreams" without trying.
Counting those lines in nginx's error log, within the drill's time window, turns a guess into a finding.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from neurmatic.ops.flows.drills.events import Recorder, Stage
from neurmatic.ops.flows.drills.measure import StageFigures

# nginx writes local time: "2026/11/25 21:50:31 [error] 1#1: *21 no live upstreams while ..."
_LINE = re.compile(
    r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] [^:]*: (?:\*\d+ )?(.*?)(?: while |, client:|$)"
)
LATE_SERVICE_SECONDS = 5.0
KINDS = {
    "no live upstreams": "no live upstreams",
    "upstream server temporarily disabled": "upstream disabled",
    "Connection refused": "connection refused",
    "Connection reset by peer": "connection reset",
    "upstream prematurely closed connection": "upstream closed early",
}


def nginx_upstream_events(error_log: Path, start: datetime, end: datetime) -> Counter[str]:
    """How often each upstream event of :data:`KINDS` was logged between ``start`` and ``end``."""
    counts: Counter[str] = Counter()
    first, last = _local(start).replace(microsecond=0), _local(end)
    try:
        lines = error_log.read_text(errors="replace").splitlines()
    except OSError:
        return counts
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        when = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S")
        if first <= when <= last:
            for needle, kind in KINDS.items():
                if needle in match.group(3):
                    counts[kind] += 1
    return counts


def _local(moment: datetime) -> datetime:
    return moment.astimezone().replace(tzinfo=None)


def late_service_note(
    figures: StageFigures, stage: Stage, recorder: Recorder, error_log: Path, until: float
) -> str | None:
    """A finding when writes came back well after the infrastructure, explained by nginx's log."""
    if figures.rto_seconds is None or figures.restored_seconds is None:
        return None
    late = figures.rto_seconds - figures.restored_seconds
    if late <= LATE_SERVICE_SECONDS:
        return None
    events = nginx_upstream_events(error_log, recorder.wall(stage.fault_at), recorder.wall(until))
    seen = ", ".join(f"{kind}: {n}" for kind, n in events.most_common()) or "no upstream errors"
    text = (
        f"{stage.name}: writes came back {late:.1f} s after {stage.recovery_detail or 'the recovery'}. "
        f"nginx logged: {seen}."
    )
    if events["no live upstreams"]:
        text += (
            " Its passive health check (max_fails=3 fail_timeout=30s) had marked every API instance "
            "unavailable after errors, and it tries none of them again until fail_timeout has passed; "
            "a shorter fail_timeout (or an active health check) would bring this RTO down to the "
            "recovery time."
        )
    return text
