"""NetworkPolicies: nothing moves unless allowed. The ingress controller alone reaches the API; only
our pods (API, worker, migration and backup: the ``DATABASE_CLIENT`` label) reach PostgreSQL and Redis;
Prometheus scrapes the API's /internal/metrics, the worker's metrics port and Patroni; every pod may
resolve names. The operators reach their clusters from their own namespaces."""

from __future__ import annotations

from neurmatic.render import app_container as app
from neurmatic.render.kubernetes.names import (
    DATABASE_CLIENT,
    INGRESS_NAMESPACE,
    INGRESS_PODS,
    MONITORING_NAMESPACE,
    NAMESPACE,
    PATRONI_PORT,
    POSTGRES_OPERATOR_NAMESPACE,
    POSTGRES_PODS,
    POSTGRES_PORT,
    PROMETHEUS_PODS,
    REDIS_OPERATOR_NAMESPACE,
    REDIS_PODS,
    REDIS_PORT,
    SENTINEL_PORT,
    Manifest,
    labels,
)

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
REDIS_EXPORTER_PORT = 9121
KUBERNETES_API_PORTS = (443, 6443)  # Patroni keeps its leader lock in the Kubernetes API (Spilo's DCS)
# Out of the cluster: S3 (media, backups, WAL-G), SendGrid's SMTP relay, Sentry, OAuth providers.
EXTERNAL_PORTS = (443, 587)


def _ports(*numbers: int, protocol: str = "TCP") -> list[Manifest]:
    return [{"port": number, "protocol": protocol} for number in numbers]


def _pods(selector: dict[str, str], namespace: str | None = None) -> Manifest:
    peer: Manifest = {"podSelector": {"matchLabels": selector}}
    if namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_LABEL: namespace}}
    return peer


def _namespace(name: str) -> Manifest:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: name}}}


def _anywhere(*ports: int) -> Manifest:
    return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _ports(*ports)}


def policy(name: str, selector: dict[str, str], ingress: list[Manifest], egress: list[Manifest]) -> Manifest:
    types = (["Ingress"] if ingress or not egress else []) + (["Egress"] if egress else [])
    spec: Manifest = {"podSelector": {"matchLabels": selector} if selector else {}, "policyTypes": types}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    meta = {"name": name, "namespace": NAMESPACE, "labels": labels("network")}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


def default_deny() -> Manifest:
    meta = {"name": "default-deny", "namespace": NAMESPACE, "labels": labels("network")}
    spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


def network_policies() -> list[Manifest]:
    prometheus = _pods(PROMETHEUS_PODS, MONITORING_NAMESPACE)
    clients = _pods(DATABASE_CLIENT)
    postgres = _pods(POSTGRES_PODS)
    redis = _pods(REDIS_PODS)
    dns = _pods({"k8s-app": "kube-dns"}, "kube-system")
    return [
        default_deny(),
        policy("allow-dns", {}, [], [{"to": [dns], "ports": _ports(53) + _ports(53, protocol="UDP")}]),
        policy(
            "api-from-ingress-and-prometheus",
            labels("api"),
            [{"from": [_pods(INGRESS_PODS, INGRESS_NAMESPACE), prometheus], "ports": _ports(app.API_PORT)}],
            [],
        ),
        policy(
            "worker-from-prometheus",
            labels("worker"),
            [{"from": [prometheus], "ports": _ports(app.WORKER_METRICS_PORT)}],
            [],
        ),
        policy(
            "clients-to-databases-and-out",
            DATABASE_CLIENT,
            [],
            [
                {"to": [postgres], "ports": _ports(POSTGRES_PORT)},
                {"to": [redis], "ports": _ports(REDIS_PORT, SENTINEL_PORT)},
                _anywhere(*EXTERNAL_PORTS),
            ],
        ),
        policy(
            "postgres",
            POSTGRES_PODS,
            [
                {"from": [clients], "ports": _ports(POSTGRES_PORT)},
                {"from": [postgres], "ports": _ports(POSTGRES_PORT, PATRONI_PORT)},
                {
                    "from": [_namespace(POSTGRES_OPERATOR_NAMESPACE)],
                    "ports": _ports(POSTGRES_PORT, PATRONI_PORT),
                },
                {"from": [prometheus], "ports": _ports(PATRONI_PORT)},
            ],
            [
                {"to": [postgres], "ports": _ports(POSTGRES_PORT, PATRONI_PORT)},
                _anywhere(*KUBERNETES_API_PORTS),
            ],
        ),
        policy(
            "redis",
            REDIS_PODS,
            [
                {"from": [clients, redis], "ports": _ports(REDIS_PORT, SENTINEL_PORT)},
                {"from": [_namespace(REDIS_OPERATOR_NAMESPACE)], "ports": _ports(REDIS_PORT, SENTINEL_PORT)},
                {"from": [prometheus], "ports": _ports(REDIS_EXPORTER_PORT)},
            ],
            [{"to": [redis], "ports": _ports(REDIS_PORT, SENTINEL_PORT)}],
        ),
    ]
