"""The committed production configs, rendered from the same templates as the local topology.

Secrets never land in these files: Redis gets its password on the command line, Sentinel's file holds
``__REDIS_PASSWORD__`` markers that the container substitutes at start (Sentinel rewrites its own file,
so it is copied to a writable place first).
"""

from __future__ import annotations

from neurmatic.render import render_template
from neurmatic.render.compose import render_compose
from neurmatic.render.nginx import production_nginx_context, render_nginx
from neurmatic.render.postgres import PRODUCTION_SETTINGS

REDIS_PASSWORD_MARKER = "__REDIS_PASSWORD__"  # noqa: S105 - a marker, not a password
SENTINEL_PASSWORD_MARKER = "__SENTINEL_PASSWORD__"  # noqa: S105 - a marker


def production_files() -> dict[str, str]:
    """Every rendered production file, by its path relative to the project root."""
    return {
        "infrastructure/nginx/production.conf": render_nginx(production_nginx_context()),
        "infrastructure/redis/redis.conf": render_template(
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
        ),
        "infrastructure/redis/sentinel.conf": render_template(
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
            quorum=2,
            redis_password=REDIS_PASSWORD_MARKER,
        ),
        "infrastructure/postgres/postgresql.conf": render_template(
            "postgresql.conf.j2",
            settings=PRODUCTION_SETTINGS,
            local=False,
        ),
        "infrastructure/postgres/pg_hba.conf": render_template(
            "pg_hba.conf.j2",
            networks=["172.21.0.0/16"],
            admin_network="127.0.0.1/32",
            database="neurmatic_production",
            app_user="neurmatic_prod",
        ),
        "docker-compose.production.yml": render_compose(postgres_settings=PRODUCTION_SETTINGS),
    }
