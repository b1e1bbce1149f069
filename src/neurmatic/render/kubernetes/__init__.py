"""The Kubernetes manifests under ``infrastructure/kubernetes``: a Kustomize base, the production overlay,
the migration Job's own kustomization, the monitoring resources, and the Secret's template; rendered
from the same Python settings as the nginx, Redis, Patroni and compose files (``render/production.py``).

Each manifest is Python data dumped as YAML (no template: structure, quoting and indentation are the
YAML library's), one file per concern, with a header that says where it comes from.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import yaml

from neurmatic.render.kubernetes.config import config_map, secret_template
from neurmatic.render.kubernetes.data import postgres_cluster, redis_failover
from neurmatic.render.kubernetes.edge import ingresses
from neurmatic.render.kubernetes.jobs import backup_cronjob, migrate_job
from neurmatic.render.kubernetes.monitoring import pod_monitors
from neurmatic.render.kubernetes.names import IMAGE, NAMESPACE, Manifest
from neurmatic.render.kubernetes.network import network_policies
from neurmatic.render.kubernetes.workloads import (
    api_autoscaler,
    api_deployment,
    api_disruption_budget,
    api_service,
    service_account,
    worker_deployment,
)

ROOT = "infrastructure/kubernetes"
# The registry and tag a release sets (`kustomize edit set image`, docs/deploy.md); compose's defaults.
DEFAULT_REGISTRY = "ghcr.io"
HEADER = "# Rendered by `neurmatic render` from src/neurmatic/render/kubernetes: edit that, not this file.\n"


class _Dumper(yaml.SafeDumper):
    """Writes a shared value out in full each time: manifests have no anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(*documents: Manifest, note: str = "") -> str:
    comment = "".join(f"# {line}\n" if line else "#\n" for line in note.splitlines())
    body = "---\n".join(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=110) for doc in documents)
    return HEADER + comment + body


def namespace() -> Manifest:
    # Our pods meet the `restricted` Pod Security Standard; the operators' pods (Spilo, Redis) only
    # `baseline`, so that is what is enforced, and `restricted` is warned and audited.
    levels = {
        f"pod-security.kubernetes.io/{mode}": level
        for mode, level in (("enforce", "baseline"), ("warn", "restricted"), ("audit", "restricted"))
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": levels}}


def kustomization(resources: list[str], **extra: Any) -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        **extra,
        "resources": resources,
    }


def release_component() -> Manifest:
    image = {"name": IMAGE, "newName": f"{DEFAULT_REGISTRY}/{IMAGE}", "newTag": version("neurmatic")}
    return {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "images": [image]}


def kubernetes_files() -> dict[str, str]:
    """Every Kubernetes file, by its path relative to the project root."""
    base = {
        "namespace.yaml": dump(namespace()),
        "app.yaml": dump(
            service_account(),
            config_map(),
            api_deployment(),
            api_service(),
            api_autoscaler(),
            api_disruption_budget(),
            worker_deployment(),
        ),
        "ingress.yaml": dump(*ingresses()),
        "backup.yaml": dump(backup_cronjob()),
        "network-policies.yaml": dump(*network_policies()),
        "databases.yaml": dump(
            postgres_cluster(),
            redis_failover(),
            note="Custom resources of the postgres-operator (Zalando) and the redis-operator (spotahome):\n"
            "install both operators first (docs/deploy.md).",
        ),
    }
    release = "../../components/release"
    files = {f"{ROOT}/base/{name}": text for name, text in base.items()}
    files |= {
        f"{ROOT}/base/kustomization.yaml": dump(kustomization(sorted(base), namespace=NAMESPACE)),
        f"{ROOT}/migrate/job.yaml": dump(migrate_job()),
        f"{ROOT}/migrate/kustomization.yaml": dump(kustomization(["job.yaml"], namespace=NAMESPACE)),
        f"{ROOT}/monitoring/pod-monitors.yaml": dump(*pod_monitors()),
        f"{ROOT}/monitoring/kustomization.yaml": dump(
            kustomization(["pod-monitors.yaml", "prometheus-rule.yaml"], namespace=NAMESPACE)
        ),
        f"{ROOT}/components/release/kustomization.yaml": dump(
            release_component(), note="The release's image: both overlays include this component."
        ),
        f"{ROOT}/overlays/production/kustomization.yaml": dump(
            kustomization(["../../base", "../../monitoring"], components=[release])
        ),
        f"{ROOT}/overlays/production-migrate/kustomization.yaml": dump(
            kustomization(["../../migrate"], components=[release]),
            note='Applied before each rollout: docs/deploy.md, "Kubernetes".',
        ),
        f"{ROOT}/secret.template.yaml": dump(
            secret_template(),
            note="The keys of the application's Secret, never applied with values from here:\n"
            'create it from an untracked env file (docs/deploy.md, "Kubernetes").',
        ),
    }
    return files
