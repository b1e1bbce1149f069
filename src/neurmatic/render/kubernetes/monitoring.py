"""Prometheus Operator PodMonitors: the API's /internal/metrics on every pod, the worker's metrics port,
and Patroni's /metrics on the database pods, under the job names the rules use (``api``, ``worker``,
``patroni``: ``render/monitoring.py``, ``render/alerting``)."""

from __future__ import annotations

from typing import Any

from neurmatic.render.kubernetes.names import PATRONI_PORT, POSTGRES_PODS, Manifest, labels, resource
from neurmatic.render.monitoring import API_METRICS_PATH, PRODUCTION_SCRAPE_INTERVAL


def _job(name: str) -> list[Manifest]:
    """The job label the rules expect, and the pod's name where compose had the service's."""
    return [
        {"targetLabel": "job", "replacement": name},
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "service"},
    ]


def pod_monitor(name: str, selector: dict[str, str], job: str, **endpoint: Any) -> Manifest:
    relabelings = endpoint.pop("relabelings", []) + _job(job)
    endpoints = [{"interval": PRODUCTION_SCRAPE_INTERVAL, **endpoint, "relabelings": relabelings}]
    spec = {"selector": {"matchLabels": selector}, "podMetricsEndpoints": endpoints}
    return resource("monitoring.coreos.com/v1", "PodMonitor", name, "monitoring", spec)


def pod_monitors() -> list[Manifest]:
    return [
        pod_monitor("neurmatic-api", labels("api"), "api", port="http", path=API_METRICS_PATH),
        pod_monitor("neurmatic-worker", labels("worker"), "worker", port="metrics", path="/metrics"),
        # Spilo's container ports have no names: keep the target of Patroni's port only.
        pod_monitor(
            "neurmatic-patroni",
            POSTGRES_PODS,
            "patroni",
            path="/metrics",
            relabelings=[
                {
                    "sourceLabels": ["__meta_kubernetes_pod_container_port_number"],
                    "regex": str(PATRONI_PORT),
                    "action": "keep",
                }
            ],
        ),
    ]
