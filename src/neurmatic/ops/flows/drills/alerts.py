"""Which alerts a drill's fault raised, and when: read back from Prometheus (``ALERTS``), so a drill
report gives the time to alert beside the RTO.

Prometheus marks an alert ``pending`` as soon as its condition holds and ``firing`` once the rule's
``for:`` has passed (Alertmanager then notifies). A drill that recovers within a rule's ``for:`` only
sees it pending: that is the point of ``for:``, and the report says so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


class AlertsUnavailable(Exception):
    """Prometheus could not be asked (the report says so instead of listing alerts)."""


def query_range(prometheus_url: str, query: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode(
        {"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": STEP_SECONDS}
    )
    url = f"{prometheus_url.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - the operators' Prometheus
            body = json.loads(reply.read())
    except (OSError, ValueError) as exc:
        raise AlertsUnavailable(f"Prometheus at {prometheus_url} did not answer: {exc}") from exc
    if body.get("status") != "success":
        raise AlertsUnavailable(f"Prometheus refused the query: {body.get('error', body)}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def alerts_seen(prometheus_url: str, fault_at: datetime, end: datetime) -> list[AlertSeen]:
    """Every alert pending or firing between the fault and ``end``, first times relative to the fault."""
    first: dict[tuple[str, str, str], dict[str, float]] = {}
    for series in query_range(prometheus_url, "ALERTS", fault_at, end):
        labels = series["metric"]
        key = (labels.get("alertname", "?"), labels.get("severity", ""), labels.get("instance", ""))
        seen = min(float(t) for t, _ in series["values"]) - fault_at.timestamp()
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
        ),
        key=lambda a: (a.pending_after_seconds or 0.0, a.alert),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(max(0.0, value), 1)
