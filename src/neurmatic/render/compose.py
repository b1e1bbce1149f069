"""``docker-compose.production.yml`` from ``templates/docker-compose.production.yml.j2``.

The names and ports here are the compose topology's: the Patroni configs that ``render.production``
renders for the database nodes use the same ones, so a node's config names the host compose gives it.
"""

from __future__ import annotations

from neurmatic.render import render_template
from neurmatic.render.etcd import CLIENT_PORT, service_cluster
from neurmatic.render.postgres import PRODUCTION_DATABASE

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
    )
