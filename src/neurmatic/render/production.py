"""The committed production configs, rendered from the same templates as the local topology.

Secrets never land in these files: Redis gets its passwords on the command line, Sentinel's file holds
``__REDIS_PASSWORD__`` markers (``__METRICS_REDIS_PASSWORD__`` for the exporter's ACL user) that the
container substitutes at start (Sentinel rewrites its own file, so it is copied to a writable place
first), Patroni reads every password from its environment, and Alertmanager its secrets from files.
"""

from __future__ import annotations

from neurmatic.render import render_template
from neurmatic.render.alerting import prometheus_rule_manifest, prometheus_rules
from neurmatic.render.alerting.alertmanager import render_alertmanager
from neurmatic.render.alerting.operator import SENTINEL_QUORUM
from neurmatic.render.compose import (
    DATABASE_NODES,
    NETWORK_SUBNET,
    PATRONI_PORT,
    POSTGRES_PORT,
    etcd_hosts,
    render_compose,
)
from neurmatic.render.dashboards import dashboard_files
from neurmatic.render.host.fail2ban import fail2ban_files
from neurmatic.render.host.firewall import firewall_files
from neurmatic.render.host.settings import host_settings_files
from neurmatic.render.kubernetes import kubernetes_files
from neurmatic.render.logrotate import render_logrotate
from neurmatic.render.monitoring import production_prometheus, render_blackbox
from neurmatic.render.nginx import production_nginx_context, render_nginx
from neurmatic.render.patroni import PatroniNodeConfig, pg_hba_lines, render_patroni
from neurmatic.render.pgbackrest import (
    PgBackRestConfig,
    S3Repository,
    archiving_parameters,
    render_pgbackrest,
    replica_restore_command,
    restore_command,
)
from neurmatic.render.postgres import PRODUCTION_APP_USER, PRODUCTION_DATABASE, PRODUCTION_SETTINGS
from neurmatic.render.redis_acl import SENTINEL_METRICS_ACL, acl_user_rules
from neurmatic.supervisor.layout import METRICS_USER

REDIS_PASSWORD_MARKER = "__REDIS_PASSWORD__"  # noqa: S105 - a marker, not a password
SENTINEL_PASSWORD_MARKER = "__SENTINEL_PASSWORD__"  # noqa: S105 - a marker
METRICS_REDIS_PASSWORD_MARKER = "__METRICS_REDIS_PASSWORD__"  # noqa: S105 - a marker

# Inside the neurmatic-patroni image (infrastructure/patroni/Dockerfile, FROM postgres:15): the data
# directory is a subdirectory of the volume, so initdb finds it empty (a volume's root holds lost+found
# on some drivers); the bootstrap hook is the image's.
PATRONI_DATA_DIR = "/var/lib/postgresql/data/pgdata"
PATRONI_BIN_DIR = "/usr/lib/postgresql/15/bin"
PATRONI_POST_BOOTSTRAP = "/usr/local/bin/neurmatic-post-bootstrap"
# pgBackRest in the same image: its configuration mounted, repository 1 on a volume both nodes share
# (one host), its spool and log in the node's own volume (beside, not in, the data directory).
PGBACKREST_CONFIG = "/etc/pgbackrest/pgbackrest.conf"
PGBACKREST_REPO = "/var/lib/pgbackrest"
PGBACKREST_NODE_DIR = "/var/lib/postgresql/data/pgbackrest"


def pgbackrest_config() -> str:
    """The nodes' pgBackRest configuration (the same file for both: the same paths in each container)."""
    return render_pgbackrest(
        PgBackRestConfig(
            pg_path=PATRONI_DATA_DIR,
            pg_port=POSTGRES_PORT,
            pg_socket_path="/var/run/postgresql",
            repo1_path=PGBACKREST_REPO,
            repo2=S3Repository(bucket="", endpoint="", region="", retention_days=90),
            spool_path=f"{PGBACKREST_NODE_DIR}/spool",
            log_path=f"{PGBACKREST_NODE_DIR}/log",
            lock_path="/tmp/pgbackrest",  # noqa: S108 - in the container's own /tmp
        )
    )


def patroni_node_config(name: str) -> str:
    """The Patroni config of compose service ``name``, which is also its member name and host name."""
    node = PatroniNodeConfig(
        name=name,
        restapi_listen=f"0.0.0.0:{PATRONI_PORT}",
        restapi_connect=f"{name}:{PATRONI_PORT}",
        # IPv4 only, not `*`: Patroni then reaches its own server as `localhost`, and an IPv6 `::1`
        # (which no pg_hba rule admits) is refused at connect, so libpq goes on to 127.0.0.1.
        pg_listen=f"0.0.0.0:{POSTGRES_PORT}",
        pg_connect=f"{name}:{POSTGRES_PORT}",
        data_dir=PATRONI_DATA_DIR,
        bin_dir=PATRONI_BIN_DIR,
        pgpass="/tmp/pgpass",  # noqa: S108 - Patroni writes it (0600) in its own container
        etcd_hosts=etcd_hosts(),
        local_parameters=archiving_parameters("pgbackrest", PGBACKREST_CONFIG),
        replica_restore_command=replica_restore_command("pgbackrest", PGBACKREST_CONFIG),
        restore_command=restore_command("pgbackrest", PGBACKREST_CONFIG),
    )
    hba = pg_hba_lines(
        [NETWORK_SUBNET],
        "127.0.0.1/32",
        PRODUCTION_DATABASE,
        PRODUCTION_APP_USER,
        rewind_networks=(NETWORK_SUBNET,),  # the other node's address is the compose network's
    )
    return render_patroni(
        node, settings=PRODUCTION_SETTINGS, pg_hba=hba, post_bootstrap=PATRONI_POST_BOOTSTRAP
    )


def redis_config() -> str:
    """Both Redis servers' configuration (the password comes from the command line)."""
    return render_template(
        "redis.conf.j2",
        bind="0.0.0.0",
        port=6379,
        password=None,
        replicaof=None,
        announce_ip=None,
        data_dir="/data",
        logfile="",
        maxmemory="2gb",
        sync_delay=5,
    )


def sentinel_config() -> str:
    """The Sentinels' configuration, with password markers the container replaces at start."""
    return render_template(
        "sentinel.conf.j2",
        bind="0.0.0.0",
        port=26379,
        data_dir="/data",
        logfile="",
        announce_ip=None,
        resolve_hostnames=True,
        sentinel_password=SENTINEL_PASSWORD_MARKER,
        master_name="mymaster",
        master_host="redis-master",
        master_port=6379,
        quorum=SENTINEL_QUORUM,
        redis_password=REDIS_PASSWORD_MARKER,
        # The local topology sets this user live (ACL SETUSER); production's Sentinels start with it.
        acl_users={METRICS_USER: acl_user_rules(METRICS_REDIS_PASSWORD_MARKER, SENTINEL_METRICS_ACL)},
    )


def production_files() -> dict[str, str]:
    """Every rendered production file, by its path relative to the project root."""
    return {
        "infrastructure/nginx/production.conf": render_nginx(production_nginx_context()),
        "infrastructure/redis/redis.conf": redis_config(),
        "infrastructure/redis/sentinel.conf": sentinel_config(),
        **{f"infrastructure/patroni/{name}.yml": patroni_node_config(name) for name in DATABASE_NODES},
        "infrastructure/pgbackrest/pgbackrest.conf": pgbackrest_config(),
        "infrastructure/prometheus/rules.yml": prometheus_rules(),
        "infrastructure/kubernetes/monitoring/prometheus-rule.yaml": prometheus_rule_manifest(),
        "infrastructure/alertmanager/alertmanager.yml": render_alertmanager(),
        "infrastructure/prometheus/prometheus.yml": production_prometheus(),
        "infrastructure/prometheus/blackbox.yml": render_blackbox(
            None, server_name=production_nginx_context().server_name
        ),
        **dashboard_files(),
        "infrastructure/logrotate/neurmatic": render_logrotate(),
        **firewall_files(),
        **fail2ban_files(),
        **host_settings_files(),
        "docker-compose.production.yml": render_compose(),
        **kubernetes_files(),
    }
