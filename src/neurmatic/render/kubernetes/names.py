"""The names the Kubernetes manifests share: namespace, labels, the Services and Secrets the operators
create, and the other namespaces the NetworkPolicies admit (the ingress controller, Prometheus)."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

NAMESPACE = "neurmatic"
APP = "neurmatic"
SERVICE_ACCOUNT = "neurmatic"
CONFIG_MAP = "neurmatic-config"
# The application's Secret, created from the untracked env file, never committed (docs/deploy.md).
SECRET = "neurmatic-secrets"  # noqa: S105 - a name
# The Ingress's certificate (cert-manager, or `kubectl create secret tls`).
TLS_SECRET = "neurmatic-tls"  # noqa: S105 - a name
IMAGE = "neurmatic-backend"  # the overlay's `images:` gives it its registry and tag
UID = 10001  # the image's non-root user (infrastructure/Dockerfile creates it with this uid)

# Labels every pod of ours carries; clients of the databases carry DATABASE_CLIENT too, which is what the
# database NetworkPolicies admit.
DATABASE_CLIENT = {"neurmatic.com/database-client": "true"}

# The Zalando postgres-operator cluster: its name must start with its teamId. The operator creates the
# Services `<cluster>` (the primary) and `<cluster>-repl` (the replicas) and one Secret per role.
POSTGRES_TEAM = "neurmatic"
POSTGRES_CLUSTER = f"{POSTGRES_TEAM}-db"
POSTGRES_PODS = {"application": "spilo", "cluster-name": POSTGRES_CLUSTER}
# The spotahome redis-operator failover: Services rfr-<name> (Redis) and rfs-<name> (Sentinels).
REDIS_FAILOVER = "neurmatic-redis"
# Key `password`: the redis-operator sets it as requirepass; the pods read it as REDIS_PASSWORD.
REDIS_AUTH_SECRET = "neurmatic-redis-auth"  # noqa: S105 - a name
REDIS_PODS = {"app.kubernetes.io/name": REDIS_FAILOVER, "app.kubernetes.io/part-of": "redis-failover"}
SENTINEL_PORT = 26379
REDIS_PORT = 6379
POSTGRES_PORT = 5432
PATRONI_PORT = 8008

# Where the cluster's shared services run (the usual install namespaces; an overlay may patch them).
INGRESS_NAMESPACE = "ingress-nginx"
INGRESS_PODS = {"app.kubernetes.io/name": "ingress-nginx"}
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}
POSTGRES_OPERATOR_NAMESPACE = "postgres-operator"
REDIS_OPERATOR_NAMESPACE = "redis-operator"


def labels(component: str) -> dict[str, str]:
    """The recommended labels of one of our components (also its pods' selector)."""
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def metadata(name: str, component: str, **extra: Any) -> Manifest:
    return {"name": name, "namespace": NAMESPACE, "labels": labels(component), **extra}


def postgres_user_secret(user: str) -> str:
    """The Secret the postgres-operator keeps a role's credentials in (keys ``username``, ``password``)."""
    return f"{user.replace('_', '-')}.{POSTGRES_CLUSTER}.credentials.postgresql.acid.zalan.do"


def resource(api_version: str, kind: str, name: str, component: str, spec: Manifest) -> Manifest:
    """A namespaced object of ours: its kind, labelled metadata and spec."""
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata(name, component), "spec": spec}


def deployment(name: str, component: str, template: Manifest, **spec: Any) -> Manifest:
    selector = {"matchLabels": labels(component)}
    return resource(
        "apps/v1", "Deployment", name, component, {**spec, "selector": selector, "template": template}
    )
