"""The ConfigMap and the Secret *template* the application pods read (``envFrom``), both derived from the
env file ``neurmatic secrets generate`` writes, so Kubernetes knows every variable compose does.

What differs on Kubernetes: the addresses (the operators' Services instead of compose host names), and
the credentials the operators own. The postgres-operator creates the application role's password (the
pods build ``DATABASE_URL`` from it), the redis-operator's Sentinels and Redis read theirs from
``REDIS_AUTH_SECRET``, and the HA engines' own accounts (superuser, replication, Patroni) are theirs
alone. Everything else that is secret goes into ``SECRET``, created from an untracked file.
"""

from __future__ import annotations

import re

from neurmatic.ops.flows.env_file import production_env_file
from neurmatic.render.kubernetes.names import (
    CONFIG_MAP,
    REDIS_FAILOVER,
    SECRET,
    SENTINEL_PORT,
    Manifest,
    metadata,
)

_SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|_KEY_ID$|_PASS$|DSN|WEBHOOK")

# Secret variables of the env file that are not ours to hold on Kubernetes, and why.
OPERATOR_MANAGED = {
    "POSTGRES_PASSWORD": "the postgres-operator generates the role's password in its own Secret",
    "POSTGRES_SUPERUSER_PASSWORD": "the postgres-operator's (Patroni's superuser)",
    "REPLICATOR_PASSWORD": "the postgres-operator's (Patroni's replication role)",
    "PATRONI_RESTAPI_PASSWORD": "Patroni's REST API is the postgres-operator's, reached by it alone",
    "PGBACKREST_CIPHER_PASS": "Spilo archives WAL with WAL-G, configured in the operator's configuration",
    "METRICS_DB_PASSWORD": "no postgres_exporter here: Patroni's own /metrics is scraped",
    "DATABASE_URL": "built in each pod from the postgres-operator's Secret",
    "DATABASE_REPLICA_URL": "built in each pod from the postgres-operator's Secret",
    "REDIS_PASSWORD": "in the redis-operator's auth Secret, which the pods read too",
    "REDIS_URL": "the pods find the master through the Sentinels",
    "REDIS_SENTINEL_PASSWORD": (
        "the redis-operator's Sentinels take no password; NetworkPolicies admit our pods only"
    ),
    "METRICS_REDIS_PASSWORD": "the redis-operator's exporter sidecar reads Redis with its auth Secret",
    "GRAFANA_ADMIN_PASSWORD": "Grafana belongs to the cluster's monitoring stack",
}
# Plain settings whose compose value does not apply: the Kubernetes value, or None to leave it out.
KUBERNETES_VALUES: dict[str, str | None] = {
    "REDIS_SENTINELS": f"rfs-{REDIS_FAILOVER}:{SENTINEL_PORT}",
    "REDIS_SENTINEL_MASTER": "mymaster",  # the redis-operator's fixed master name, as sentinel.conf's
    "NEURMATIC_PATRONI_URLS": None,  # the operator's Patroni: `kubectl exec … patronictl`
    "POSTGRES_USER": None,  # from the postgres-operator's Secret
    "WEB_CONCURRENCY": None,  # set by the API Deployment, to match its CPU limit
}


def env_file_variables() -> dict[str, str]:
    """The variables ``neurmatic secrets generate`` writes, with the values it writes."""
    text = production_env_file(api_url="https://api.neurmatic.com", frontend_url="https://neurmatic.com")
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict((key, value) for key, value in pairs)


def is_secret(key: str, value: str) -> bool:
    """A credential by its name, or a URL that carries one."""
    return bool(_SECRET_NAME.search(key)) or ("://" in value and "@" in value)


def secret_keys() -> list[str]:
    """The keys of ``SECRET``: every secret of the env file that no operator owns."""
    return [
        key
        for key, value in env_file_variables().items()
        if is_secret(key, value) and key not in OPERATOR_MANAGED
    ]


def config_values() -> dict[str, str]:
    """The ConfigMap's data: every plain setting of the env file, with the Kubernetes addresses."""
    data: dict[str, str] = {}
    for key, value in env_file_variables().items():
        if is_secret(key, value):
            continue
        override = KUBERNETES_VALUES.get(key, value)
        if override is not None:
            data[key] = override
    return data


def config_map() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(CONFIG_MAP, "config"),
        "data": config_values(),
    }


def secret_template() -> Manifest:
    """The Secret's shape with empty values: the list of keys to fill (docs/deploy.md), never applied."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(SECRET, "config"),
        "type": "Opaque",
        "stringData": dict.fromkeys(secret_keys(), ""),
    }
