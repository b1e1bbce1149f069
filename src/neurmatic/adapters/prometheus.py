"""Prometheus's HTTP API (``/api/v1``): instant queries and the alerts its rules hold.

Typed and small so that ``neurmatic top`` and the drills (time-to-alert) read the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neurmatic.adapters.alertmanager import parse_time
from neurmatic.adapters.monitoring_http import MonitoringApi
from neurmatic.errors import MonitoringRequestRefused


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value (NaN stays NaN)."""

    labels: dict[str, str]
    value: float

    def label(self, name: str) -> str:
        return self.labels.get(name, "")


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and its (Unix time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class RuleAlert:
    """An alert a Prometheus rule holds: ``state`` is ``pending`` or ``firing``; ``active_at`` when its
    expression first held."""

    name: str
    severity: str
    instance: str
    state: str
    active_at: datetime | None
    summary: str
    labels: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleAlert:
        labels = {str(k): str(v) for k, v in data.get("labels", {}).items()}
        active_at = data.get("activeAt")
        return cls(
            name=labels.get("alertname", ""),
            severity=labels.get("severity", ""),
            instance=labels.get("instance", ""),
            state=str(data.get("state", "")),
            active_at=parse_time(str(active_at)) if active_at else None,
            summary=str(data.get("annotations", {}).get("summary", "")),
            labels=labels,
        )


class PrometheusApi(MonitoringApi):
    """One Prometheus server (``http://host:9090``)."""

    what = "Prometheus"
    variable = "NEURMATIC_PROMETHEUS_URL"

    def query(self, expr: str) -> list[Sample]:
        """The instant vector ``expr`` evaluates to now (a scalar comes back as one label-less sample)."""
        data = self._data("/api/v1/query", {"query": expr})
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [Sample(dict(r["metric"]), _number(r["value"][1])) for r in result]
        if kind == "scalar":
            return [Sample({}, _number(result[1]))]
        raise MonitoringRequestRefused(f"Prometheus answered {expr!r} with a {kind}, not an instant vector")

    def value(self, expr: str) -> float | None:
        """The one value ``expr`` yields (the first series'), None when it yields nothing."""
        samples = self.query(expr)
        return samples[0].value if samples else None

    def query_range(self, expr: str, start: datetime, end: datetime, step: float) -> list[RangeSeries]:
        """The range vector of ``expr`` from ``start`` to ``end`` every ``step`` seconds."""
        params = {
            "query": expr,
            "start": str(start.timestamp()),
            "end": str(end.timestamp()),
            "step": str(step),
        }
        data = self._data("/api/v1/query_range", params)
        return [
            RangeSeries(dict(r["metric"]), [(float(t), _number(v)) for t, v in r["values"]])
            for r in data["result"]
        ]

    def alerts(self) -> list[RuleAlert]:
        """Every alert the rules hold (pending and firing)."""
        return [RuleAlert.from_json(a) for a in self._data("/api/v1/alerts", None)["alerts"]]

    def _data(self, path: str, params: dict[str, str] | None) -> Any:
        answer = self.http.request("GET", path, params=params)
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise MonitoringRequestRefused(f"Prometheus refused {path}: {error}")
        return answer["data"]


def _number(text: str) -> float:
    """Prometheus writes values as strings (``"NaN"`` and ``"+Inf"`` too, which float() reads)."""
    return float(text)
