"""Which alerts a drill's fault raised, and when: read back from Prometheus (``ALERTS``), so a drill
report gives the time to alert beside the RTO.

Prometheus marks an alert ``pending`` as soon as its condition holds and ``firing`` once the rule's
``for:`` has passed (Alertmanager then notifies). A drill that recovers within a rule's ``for:`` only
sees it pending: that is the point of ``for:``, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from neurmatic.adapters.prometheus import PrometheusApi

STEP_SECONDS = 5  # the local topology's evaluation interval


@dataclass(frozen=True)
class AlertSeen:
    alert: str
    severity: str
    instance: str
    pending_after_seconds: float | None  # from the first fault; None: never seen pending in the window
    firing_after_seconds: float | None  # None: never fired in the window

    def as_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "severity": self.severity,
            "instance": self.instance,
            "pending_after_seconds": self.pending_after_seconds,
            "firing_after_seconds": self.firing_after_seconds,
        }


def alerts_seen(prometheus_url: str, fault_at: datetime, end: datetime) -> list[AlertSeen]:
    """Every alert the fault raised (pending or firing between the fault and ``end``, and not already
    before it: a drill is not blamed for what was there), first times relative to the fault;
    MonitoringError when Prometheus cannot tell."""
    first: dict[tuple[str, str, str], dict[str, float]] = {}
    before: set[tuple[str, str, str]] = set()
    since = fault_at - timedelta(seconds=2 * STEP_SECONDS)
    for series in PrometheusApi(prometheus_url).query_range("ALERTS", since, end, STEP_SECONDS):
        labels = series.labels
        key = (labels.get("alertname", "?"), labels.get("severity", ""), labels.get("instance", ""))
        seen = min(t for t, _ in series.points) - fault_at.timestamp()
        if seen < 0:
            before.add(key)
            continue
        state = labels.get("alertstate", "")
        first.setdefault(key, {})
        first[key][state] = min(seen, first[key].get(state, seen))
    return sorted(
        (
            AlertSeen(
                name,
                severity,
                instance,
                _seconds(states.get("pending", states.get("firing"))),
                _seconds(states.get("firing")),
            )
            for (name, severity, instance), states in first.items()
            if (name, severity, instance) not in before
        ),
        key=lambda a: (a.pending_after_seconds or 0.0, a.alert),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(max(0.0, value), 1)
