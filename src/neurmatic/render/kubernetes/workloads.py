"""The API and the worker: Deployments, the API's Service, the guide's HorizontalPodAutoscaler
(2 to 10 replicas at 70 % CPU) and a PodDisruptionBudget, and the pods' ServiceAccount (no API token)."""

from __future__ import annotations

from neurmatic.render import app_container as app
from neurmatic.render.kubernetes.names import SERVICE_ACCOUNT, Manifest, deployment, labels, metadata
from neurmatic.render.kubernetes.pods import container, pod_template, resources

# The guide: "HorizontalPodAutoscaler: min 2, max 10 replicas, target 70 % CPU".
MIN_REPLICAS = 2
MAX_REPLICAS = 10
TARGET_CPU_PERCENT = 70
# One uvicorn worker process per core the container may use (the CPU limit), as the env file's default.
WEB_CONCURRENCY = 2
API_RESOURCES = resources("1", "512Mi", str(WEB_CONCURRENCY), "1Gi")
WORKER_RESOURCES = resources("250m", "256Mi", "1", "512Mi")


def _http_probe(path: str, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def api_deployment() -> Manifest:
    api = container(
        "api",
        app.API_COMMAND,
        API_RESOURCES,
        env=[
            {"name": "WEB_CONCURRENCY", "value": str(WEB_CONCURRENCY)},
            {"name": "PROMETHEUS_MULTIPROC_DIR", "value": app.METRICS_DIR},
        ],
        ports=[{"name": "http", "containerPort": app.API_PORT, "protocol": "TCP"}],
        # Up to two minutes to start (migrations are the Job's, not the pod's); then liveness takes over.
        startupProbe=_http_probe(app.LIVE_PATH, 5, 24),
        livenessProbe=_http_probe(app.LIVE_PATH, 15, 3),
        readinessProbe=_http_probe(app.READY_PATH, 10, 3),
    )
    template = pod_template(
        "api",
        [api],
        # nginx-ingress stops sending new requests once the endpoint is gone; the pause lets that
        # propagate before uvicorn gets SIGTERM and finishes what it has in flight.
        terminationGracePeriodSeconds=40,
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels("api")},
            }
        ],
    )
    api["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    # No `replicas`: the HPA owns the count (an applied value would reset it at every deploy).
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return deployment("neurmatic-api", "api", template, strategy=strategy)


def worker_deployment() -> Manifest:
    worker = container(
        "worker",
        app.WORKER_COMMAND,
        WORKER_RESOURCES,
        env=[
            {"name": "NEURMATIC_WORKER_HEARTBEAT_FILE", "value": app.WORKER_HEARTBEAT_FILE},
            {"name": "NEURMATIC_WORKER_METRICS_ADDRESS", "value": app.WORKER_METRICS_ADDRESS},
        ],
        ports=[{"name": "metrics", "containerPort": app.WORKER_METRICS_PORT, "protocol": "TCP"}],
        # compose's healthcheck: the heartbeat file, touched on every loop, must be fresh.
        livenessProbe={
            "exec": {"command": ["python", "-c", app.worker_heartbeat_script()]},
            "initialDelaySeconds": 40,
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        readinessProbe={"tcpSocket": {"port": "metrics"}, "periodSeconds": 15, "timeoutSeconds": 5},
    )
    # One worker, as the local topology and compose run: cron jobs run once cluster-wide anyway (a lock
    # in Redis), so more replicas only add queue consumers.
    template = pod_template("worker", [worker], terminationGracePeriodSeconds=60)
    return deployment("neurmatic-worker", "worker", template, replicas=1)


def api_service() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("neurmatic-api", "api"),
        "spec": {
            "selector": labels("api"),
            "ports": [{"name": "http", "port": app.API_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def api_autoscaler() -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata("neurmatic-api", "api"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "neurmatic-api"},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": TARGET_CPU_PERCENT},
                    },
                }
            ],
        },
    }


def api_disruption_budget() -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata("neurmatic-api", "api"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels("api")}},
    }


def service_account() -> Manifest:
    """The pods' identity: they never talk to the Kubernetes API, so no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(SERVICE_ACCOUNT, "app"),
        "automountServiceAccountToken": False,
    }
