"""What every pod of the application image shares: the non-root, read-only security context, the
writable /tmp, the environment (ConfigMap, Secret and the database URLs built from the operators'
Secrets), the image."""

from __future__ import annotations

from typing import Any

from neurmatic.render.kubernetes.names import (
    CONFIG_MAP,
    DATABASE_CLIENT,
    IMAGE,
    POSTGRES_CLUSTER,
    POSTGRES_PORT,
    REDIS_AUTH_SECRET,
    SECRET,
    SERVICE_ACCOUNT,
    UID,
    Manifest,
    labels,
    postgres_user_secret,
)
from neurmatic.render.postgres import PRODUCTION_APP_USER, PRODUCTION_DATABASE

TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}

CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _database_url(hosts: str, attrs: str) -> str:
    # $(VAR) is expanded by the kubelet from the variables defined above it in `env`.
    return f"postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@{hosts}/{PRODUCTION_DATABASE}?target_session_attrs={attrs}"


def app_env(instance: bool = True) -> list[Manifest]:
    """The variables set per pod; the rest comes from the ConfigMap and the Secret (``envFrom``)."""
    credentials = postgres_user_secret(PRODUCTION_APP_USER)
    primary = f"{POSTGRES_CLUSTER}:{POSTGRES_PORT}"
    replicas = f"{POSTGRES_CLUSTER}-repl:{POSTGRES_PORT}"
    env = [
        _secret_env("POSTGRES_USER", credentials, "username"),
        _secret_env("POSTGRES_PASSWORD", credentials, "password"),
        # Writes go to the primary's Service; reads prefer a replica and fall back to the primary.
        {"name": "DATABASE_URL", "value": _database_url(primary, "read-write")},
        {"name": "DATABASE_REPLICA_URL", "value": _database_url(f"{replicas},{primary}", "prefer-standby")},
        _secret_env("REDIS_PASSWORD", REDIS_AUTH_SECRET, "password"),
    ]
    if instance:
        env.insert(
            0, {"name": "NEURMATIC_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        )
    return env


def container(name: str, args: tuple[str, ...], resources: Manifest, **extra: Any) -> Manifest:
    """The application image run as ``args`` (after the image's entrypoint, which stays PID 1's tini)."""
    env = app_env() + extra.pop("env", [])
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, *extra.pop("volumeMounts", [])]  # noqa: S108
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "Always",
        "args": list(args),
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}, {"secretRef": {"name": SECRET}}],
        "env": env,
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": mounts,
        **extra,
    }


def pod_template(component: str, containers: list[Manifest], **spec: Any) -> Manifest:
    volumes = [TMP_VOLUME, *spec.pop("volumes", [])]
    return {
        "metadata": {"labels": {**labels(component), **DATABASE_CLIENT}},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "securityContext": POD_SECURITY,
            "containers": containers,
            "volumes": volumes,
            **spec,
        },
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Manifest:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
