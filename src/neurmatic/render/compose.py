"""``docker-compose.production.yml`` from ``templates/docker-compose.production.yml.j2``.

The names and ports here are the compose topology's: the Patroni configs that ``render.production``
renders for the database nodes use the same ones, so a node's config names the host compose gives it.
"""

from __future__ import annotations

from neurmatic.render import app_container, render_template
from neurmatic.render.alerting.alertmanager import PRODUCTION_SECRETS_DIR
from neurmatic.render.etcd import CLIENT_PORT, service_cluster
from neurmatic.render.monitoring import (
    NODE_EXPORTER_COLLECTORS,
    PROMETHEUS_RETENTION_SIZE,
    PROMETHEUS_RETENTION_TIME,
)
from neurmatic.render.postgres import PRODUCTION_DATABASE
from neurmatic.render.redis_acl import NO_CONFIG_COMMAND, REDIS_METRICS_ACL, acl_user_rules
from neurmatic.supervisor.layout import METRICS_USER

# The compose network; the Patroni configs' pg_hba rules admit replication and app clients from it.
NETWORK_SUBNET = "172.21.0.0/16"
DATABASE_NODES = ("postgres-1", "postgres-2")
ETCD_MEMBERS = ("etcd-1", "etcd-2", "etcd-3")
POSTGRES_PORT = 5432
PATRONI_PORT = 8008
# Pinned: a member of another minor version may refuse to join the cluster the others formed.
ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.17"
ETCD_DATA_DIR = "/etcd-data"  # each member's named volume
ETCD_CLUSTER_TOKEN = "neurmatic-production"  # noqa: S105 - a cluster's name, not a secret
# nginx's stub_status listener for its exporter: on the compose network only, never published.
NGINX_STATUS_PORT = 8080
# Monitoring images, pinned (Debian bookworm packages these projects at older minors: the local topology
# runs those, with the same flags). The Redis exporter's -alpine variant has the wget its healthcheck
# needs; the nginx exporter's image has no shell or wget, so it has no healthcheck.
MONITORING_IMAGES = {
    "prometheus": "prom/prometheus:v2.53.3",
    "alertmanager": "prom/alertmanager:v0.27.0",
    "node-exporter": "prom/node-exporter:v1.8.2",
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    "redis-exporter": "oliver006/redis_exporter:v1.62.0-alpine",
    "nginx-exporter": "nginx/nginx-prometheus-exporter:1.4.2",
    "blackbox-exporter": "prom/blackbox-exporter:v0.25.0",
    "grafana": "grafana/grafana-oss:11.3.0",
}


def etcd_hosts() -> list[str]:
    """``host:port`` of every etcd member's client listener, as Patroni's ``etcd3.hosts`` lists them."""
    return [f"{name}:{CLIENT_PORT}" for name in ETCD_MEMBERS]


def render_compose() -> str:
    """Render the production compose file.

    The PostgreSQL settings are not in it: they live in the Patroni configs (bootstrap DCS section), so
    both nodes run the same ones whichever is the leader.
    """
    return render_template(
        "docker-compose.production.yml.j2",
        network_subnet=NETWORK_SUBNET,
        database=PRODUCTION_DATABASE,
        database_nodes=DATABASE_NODES,
        # Every node in each URL: libpq picks the one whose role target_session_attrs asks for.
        database_hosts=",".join(f"{node}:{POSTGRES_PORT}" for node in DATABASE_NODES),
        patroni_urls=",".join(f"http://{node}:{PATRONI_PORT}" for node in DATABASE_NODES),
        patroni_port=PATRONI_PORT,
        postgres_port=POSTGRES_PORT,
        etcd_image=ETCD_IMAGE,
        etcd_data_dir=ETCD_DATA_DIR,
        etcd_members=service_cluster(ETCD_MEMBERS, data_dir=ETCD_DATA_DIR, token=ETCD_CLUSTER_TOKEN),
        images=MONITORING_IMAGES,
        metrics_user=METRICS_USER,
        # The exporter's ACL user on both Redis servers, from the command line like the passwords.
        redis_metrics_user=acl_user_rules("${METRICS_REDIS_PASSWORD}", REDIS_METRICS_ACL),
        redis_exporter_no_config=NO_CONFIG_COMMAND,
        retention_time=PROMETHEUS_RETENTION_TIME,
        retention_size=PROMETHEUS_RETENTION_SIZE,
        node_collectors=NODE_EXPORTER_COLLECTORS,
        nginx_status_port=NGINX_STATUS_PORT,
        alertmanager_secrets_dir=PRODUCTION_SECRETS_DIR,
        app=app_container,
    )
