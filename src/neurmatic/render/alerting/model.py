"""Rules as data: a recording rule, an alert (one severity of it), a group; rendered by the template."""

from __future__ import annotations

from dataclasses import dataclass

from neurmatic.render import render_template

RUNBOOK = "docs/operations.md"  # relative to the repository: the runbook ships with the code it describes


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    """One alerting rule. Warning and critical of the same condition share ``name``, so Alertmanager can
    let the critical one silence the warning (inhibition on equal alertname and instance)."""

    name: str
    severity: str  # "warning" or "critical": the label Alertmanager routes on
    expr: str
    for_: str  # Prometheus duration, e.g. "5m"
    summary: str  # names the instance and the value: {{ $labels.instance }}, {{ $value | humanize }}
    runbook: str  # the anchor of the section in docs/operations.md that says what to do

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK}#{self.runbook}"


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Recording | Alert, ...]


def quoted(text: str) -> str:
    """A YAML double-quoted scalar (the summaries hold ``{{ }}``, ``:`` and ``%``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_rules(groups: tuple[Group, ...]) -> str:
    """The Prometheus rule file (``promtool check rules`` format)."""
    return render_template("prometheus/rules.yml.j2", groups=groups, quoted=quoted)
