"""Prometheus alerting and recording rules and Alertmanager's routing, as one source.

The rules are Python data (:mod:`.thresholds` for the guide's table, :mod:`.operator` for what an operator
of this topology must hear about), rendered by the ``prometheus/rules.yml.j2`` template and, for
Kubernetes, as the ``spec`` of a Prometheus Operator PrometheusRule (``prometheus/prometheus-rule.yaml.j2``):
both include one groups template, so there is one copy of the rules. Alertmanager's configuration is
``alertmanager/alertmanager.yml.j2``.
"""

from __future__ import annotations

from neurmatic.render import render_template
from neurmatic.render.alerting.model import Group, quoted, render_rules
from neurmatic.render.alerting.operator import operator_groups
from neurmatic.render.alerting.thresholds import threshold_groups


def prometheus_rules() -> str:
    """The whole rule file: recording rules, the guide's thresholds, the operator alerts."""
    return render_rules(all_groups())


def all_groups() -> tuple[Group, ...]:
    """Every rule group, in file order."""
    return threshold_groups() + operator_groups()


def prometheus_rule_manifest(name: str = "neurmatic", namespace: str = "neurmatic") -> str:
    """The same groups as a Kubernetes ``monitoring.coreos.com/v1`` PrometheusRule."""
    return render_template(
        "prometheus/prometheus-rule.yaml.j2",
        groups=all_groups(),
        quoted=quoted,
        rule_name=name,
        namespace=namespace,
    )
