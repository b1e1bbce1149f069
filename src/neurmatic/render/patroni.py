"""Patroni's configuration, for the local topology and for production, from ``templates/patroni.yml.j2``.

The cluster-wide PostgreSQL settings (the operators' values, or those scaled to this machine) go into
Patroni's bootstrap DCS section, so both nodes run the same ones whichever is the leader; what differs
per node (addresses, data directory, socket directory) stays in the node's own section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neurmatic.render import render_template
from neurmatic.supervisor.layout import METRICS_USER

CLUSTER_SCOPE = "neurmatic"
# Patroni sets these itself from its own settings; given twice they would disagree.
PATRONI_OWNED = ("hot_standby", "listen_addresses", "port")


@dataclass(frozen=True)
class PatroniNodeConfig:
    """One node's place in the cluster."""

    name: str
    restapi_listen: str
    restapi_connect: str
    pg_listen: str
    pg_connect: str
    data_dir: str
    pgpass: str
    etcd_hosts: list[str]
    bin_dir: str | None = None
    local_parameters: dict[str, str] = field(default_factory=dict)
    # pgBackRest (render/pgbackrest.py): how a new standby is restored from the repository, and how a
    # standby or a recovery fetches WAL from it. None: cloned from the leader, streaming only.
    replica_restore_command: str | None = None
    restore_command: str | None = None


def pg_hba_lines(
    networks: list[str],
    admin_network: str,
    database: str,
    app_user: str,
    *,
    rewind_networks: tuple[str, ...] = (),
) -> list[str]:
    """The rules of ``pg_hba.conf.j2`` (SCRAM everywhere) as the list Patroni writes into pg_hba.conf.

    ``admin_network`` is where a node's own connections come from; when it is not one of ``networks``
    (a container's loopback), it is also admitted for replication, which a standby's Patroni uses to
    read its own server's timeline. ``rewind_networks``: where the other nodes are, when
    ``admin_network`` does not cover them. An old primary rejoins with pg_rewind, which connects to the
    new leader as the superuser (to its ``postgres`` database only) from the node's own address.
    """
    text = render_template(
        "pg_hba.conf.j2",
        networks=networks,
        admin_network=admin_network,
        database=database,
        app_user=app_user,
        metrics_user=METRICS_USER,
        rewind_networks=rewind_networks,
    )
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def render_patroni(
    node: PatroniNodeConfig,
    *,
    settings: dict[str, str],
    pg_hba: list[str],
    post_bootstrap: str | None = None,
) -> str:
    """The node's ``patroni.yml``; ``post_bootstrap`` is a command Patroni runs once, after initdb, on the
    node that bootstraps the cluster (with the superuser's connection string as its last argument)."""
    parameters = {key: value for key, value in settings.items() if key not in PATRONI_OWNED}
    return render_template(
        "patroni.yml.j2",
        scope=CLUSTER_SCOPE,
        member=node.name,
        restapi_listen=node.restapi_listen,
        restapi_connect=node.restapi_connect,
        etcd_hosts=node.etcd_hosts,
        parameters=parameters,
        pg_listen=node.pg_listen,
        pg_connect=node.pg_connect,
        data_dir=node.data_dir,
        bin_dir=node.bin_dir,
        pgpass=node.pgpass,
        local_parameters=node.local_parameters,
        replica_restore_command=node.replica_restore_command,
        restore_command=node.restore_command,
        pg_hba=pg_hba,
        post_bootstrap=post_bootstrap,
    )
