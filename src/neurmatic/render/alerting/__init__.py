"""Prometheus alerting and recording rules and Alertmanager's routing, as one source.

The rules are Python data (:mod:`.thresholds` for the guide's table, :mod:`.operator` for what an operator
of this topology must hear about), rendered by the ``prometheus/rules.yml.j2`` template; the same data
can later become a Kubernetes PrometheusRule. Alertmanager's configuration is
``alertmanager/alertmanager.yml.j2``.
"""

from __future__ import annotations

from neurmatic.render.alerting.model import render_rules
from neurmatic.render.alerting.operator import operator_groups
from neurmatic.render.alerting.thresholds import threshold_groups


def prometheus_rules() -> str:
    """The whole rule file: recording rules, the guide's thresholds, the operator alerts."""
    return render_rules(threshold_groups() + operator_groups())
