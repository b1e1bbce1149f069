"""PostgreSQL and Redis on Kubernetes, through established operators, with the local topology's settings.

PostgreSQL: the Zalando postgres-operator's ``postgresql`` cluster (Spilo: PostgreSQL run by Patroni, the
HA engine the local topology and compose run), two members, synchronous replication, and the operators'
parameters (``render/postgres.py``). Redis: the spotahome redis-operator's ``RedisFailover`` (a master, a
replica, three Sentinels), with the persistence and memory directives of the rendered ``redis.conf`` and
the Sentinels' timings of ``sentinel.conf``. Why these two: docs/architecture.md, "Kubernetes".
"""

from __future__ import annotations

from typing import Any

import yaml

from neurmatic.errors import ConfigurationError
from neurmatic.render.alerting.operator import SENTINEL_QUORUM
from neurmatic.render.kubernetes.names import (
    POSTGRES_CLUSTER,
    POSTGRES_TEAM,
    REDIS_AUTH_SECRET,
    REDIS_FAILOVER,
    Manifest,
    resource,
)
from neurmatic.render.patroni import PATRONI_OWNED
from neurmatic.render.postgres import PRODUCTION_APP_USER, PRODUCTION_DATABASE, PRODUCTION_SETTINGS

POSTGRES_VERSION = "15"  # the local topology's and the compose image's major version
POSTGRES_MEMBERS = 2  # primary + synchronous hot standby
# Patroni's cluster-wide settings taken from the rendered Patroni config: the replication guarantees.
# Its timings (ttl, loop_wait, retry_timeout) stay Spilo's: the local ones are tuned for an etcd on
# loopback, and on Kubernetes every loop is a write to the API server.
PATRONI_SHARED = ("synchronous_mode", "synchronous_mode_strict", "maximum_lag_on_failover")
REDIS_DIRECTIVES = ("save", "appendonly", "appendfsync", "maxmemory", "maxmemory-policy")
SENTINEL_DIRECTIVES = ("down-after-milliseconds", "failover-timeout", "parallel-syncs")
SENTINELS = 3
REDIS_IMAGE = "redis:7-alpine"  # compose's
REDIS_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.62.0-alpine"  # compose's (render/compose.py)


def patroni_settings() -> dict[str, Any]:
    from neurmatic.render.production import patroni_node_config  # production renders this module too

    dcs = yaml.safe_load(patroni_node_config("postgres-1"))["bootstrap"]["dcs"]
    return {key: dcs[key] for key in PATRONI_SHARED}


def postgres_cluster() -> Manifest:
    parameters = {key: value for key, value in PRODUCTION_SETTINGS.items() if key not in PATRONI_OWNED}
    return resource(
        "acid.zalan.do/v1",
        "postgresql",
        POSTGRES_CLUSTER,
        "database",
        {
            "teamId": POSTGRES_TEAM,
            "numberOfInstances": POSTGRES_MEMBERS,
            "postgresql": {"version": POSTGRES_VERSION, "parameters": parameters},
            "patroni": patroni_settings(),
            "users": {PRODUCTION_APP_USER: []},
            "databases": {PRODUCTION_DATABASE: PRODUCTION_APP_USER},
            "volume": {"size": "100Gi"},
            # The operators' server had 16 GB for one PostgreSQL with shared_buffers 512MB.
            "resources": {
                "requests": {"cpu": "1", "memory": "2Gi"},
                "limits": {"cpu": "2", "memory": "4Gi"},
            },
        },
    )


def config_directives(text: str, names: tuple[str, ...], prefix: str = "") -> list[str]:
    """``name value`` for each directive of a rendered Redis/Sentinel config, repeated ones joined
    (``save 900 1 300 10``); ``prefix`` is stripped first (``sentinel ``), and the master's name after it."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith(prefix) or line.startswith("#"):
            continue
        words = line[len(prefix) :].split()
        if words and words[0] in names:
            found.setdefault(words[0], []).extend(words[2:] if prefix else words[1:])
    missing = [name for name in names if name not in found]
    if missing:
        raise ConfigurationError(f"the rendered config has no {', '.join(missing)}")
    return [f"{name} {' '.join(found[name])}" for name in names]


def redis_failover() -> Manifest:
    from neurmatic.render.production import redis_config, sentinel_config

    # The operator makes its Sentinels' quorum a majority of them.
    if SENTINELS // 2 + 1 != SENTINEL_QUORUM:
        raise ConfigurationError(f"{SENTINELS} Sentinels do not give the quorum {SENTINEL_QUORUM}")
    return resource(
        "databases.spotahome.com/v1",
        "RedisFailover",
        REDIS_FAILOVER,
        "redis",
        {
            "auth": {"secretPath": REDIS_AUTH_SECRET},
            "sentinel": {
                "replicas": SENTINELS,
                "customConfig": config_directives(sentinel_config(), SENTINEL_DIRECTIVES, "sentinel "),
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "250m", "memory": "128Mi"},
                },
            },
            "redis": {
                "replicas": 2,  # master + replica
                "image": REDIS_IMAGE,
                "customConfig": config_directives(redis_config(), REDIS_DIRECTIVES),
                # maxmemory 2gb of data, plus the fork of an AOF rewrite or RDB save.
                "resources": {
                    "requests": {"cpu": "250m", "memory": "2560Mi"},
                    "limits": {"cpu": "1", "memory": "3Gi"},
                },
                "storage": {
                    "keepAfterDeletion": True,
                    "persistentVolumeClaim": {
                        "metadata": {"name": f"{REDIS_FAILOVER}-data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        },
                    },
                },
                "exporter": {"enabled": True, "image": REDIS_EXPORTER_IMAGE},
            },
        },
    )
