"""Unit tests for the alert rules, written as cases and turned into ``promtool test rules`` input.

A case plays one timeline at a one-minute step: ``QUIET`` minutes of normal values, then the condition
for ``for + window + FIRE_EXTRA`` minutes, then normal values again. It checks, for the case's alert name:
nothing one minute before ``for:`` has elapsed, exactly ``expect`` once it has (labels, severity, and the
summary with the instance and value as the operator reads them), nothing once the values are normal again
(after the rate window has forgotten the condition). A case with ``expect=()`` checks that the values it
gives (a threshold itself, values just under it) fire nothing at the time the condition would have fired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

API = 'instance="api-1",job="api"'
QUIET = 10
FIRE_EXTRA = 5
AFTER = 25


@dataclass(frozen=True)
class Series:
    """``quiet``/``fire``/``after`` are values, or per-minute increments when ``counter``; None: no sample."""

    selector: str
    quiet: float | None
    fire: float | None
    after: float | str | None = "quiet"  # "quiet": the quiet value again
    counter: bool = False


@dataclass(frozen=True)
class Fired:
    severity: str
    labels: dict[str, str] = field(default_factory=dict)
    shown: str = ""  # {{ $value | … }} as rendered in the summary


@dataclass(frozen=True)
class Case:
    alert: str
    for_minutes: int
    series: tuple[Series, ...]
    expect: tuple[Fired, ...]
    window: int = 0  # the longest range ([5m] → 5) the expression looks back over
    name: str = ""

    @property
    def fire_minutes(self) -> int:
        return self.for_minutes + self.window + FIRE_EXTRA

    @property
    def fired_at(self) -> int:
        return QUIET + self.window + self.for_minutes + 1

    @property
    def resolved_at(self) -> int:
        return QUIET + self.fire_minutes + self.window + 2


def api_answers(status: str, *, ok: float, other: float, quiet_ok: float) -> tuple[Series, ...]:
    """Per-minute answers of API instance api-1: 200s (``quiet_ok``, then ``ok``) and ``status`` answers
    (none, then ``other``)."""
    route = f'{API},method="GET",route="/x"'
    return (
        Series(f'neurmatic_http_requests_total{{{route},status="200"}}', quiet_ok, ok, counter=True),
        Series(f'neurmatic_http_requests_total{{{route},status="{status}"}}', 0, other, counter=True),
    )


def _values(series: Series, case: Case) -> str:
    after = series.quiet if series.after == "quiet" else series.after
    steps: list[float | None] = (
        [series.quiet] * QUIET + [series.fire] * case.fire_minutes + [after] * AFTER  # type: ignore[list-item]
    )
    if series.counter:
        total, cumulative = 0.0, []
        for step in steps:
            total += step or 0
            cumulative.append(total)
        steps = cumulative  # type: ignore[assignment]
    return " ".join("_" if v is None else repr(float(v)) for v in steps)


def _annotations(rule: dict[str, Any], labels: dict[str, str], shown: str) -> dict[str, str]:
    """The rule's annotations as Prometheus expands them for these labels and value."""

    def expand(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)
        return re.sub(r"\{\{ \$value[^}]*\}\}", shown, text)

    return {key: expand(value) for key, value in rule["annotations"].items()}


def promtool_test(case: Case, rules: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """One entry of ``tests:`` in promtool's unit test file."""

    def alerts(fired: tuple[Fired, ...]) -> list[dict[str, Any]]:
        return [
            {
                "exp_labels": {"severity": f.severity, **f.labels},
                "exp_annotations": _annotations(rules[(case.alert, f.severity)], f.labels, f.shown),
            }
            for f in fired
        ]

    checks = [{"eval_time": f"{case.fired_at}m", "alertname": case.alert, "exp_alerts": alerts(case.expect)}]
    if case.expect:
        checks += [
            {"eval_time": f"{QUIET + case.for_minutes - 1}m", "alertname": case.alert, "exp_alerts": []},
            {"eval_time": f"{case.resolved_at}m", "alertname": case.alert, "exp_alerts": []},
        ]
    return {
        "name": case.name or f"{case.alert} {'/'.join(f.severity for f in case.expect) or 'quiet'}",
        "interval": "1m",
        "input_series": [{"series": s.selector, "values": _values(s, case)} for s in case.series],
        "alert_rule_test": checks,
    }


def rules_by_alert(rule_file: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (rule["alert"], rule["labels"]["severity"]): rule
        for group in rule_file["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
