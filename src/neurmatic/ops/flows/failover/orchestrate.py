"""Failover behind one interface: what the CLI and the DR drills call.

PostgreSQL's HA engine is Patroni: any deployment that names its Patroni REST APIs (the local topology
does; an env file with ``NEURMATIC_PATRONI_URLS``) fails over, switches over and rebuilds its standby
through ``deployment/patroni.PatroniFailover``; one that names none refuses (exit 3). Redis's is
Sentinel: :func:`failover_redis` drives it on any deployment that names its Sentinels.
"""

from __future__ import annotations

from neurmatic.deployment.failover import (
    DatabaseFailover,
    FailoverFailed,
    FailoverResult,
    Progress,
    RebuildResult,
    RedisFailoverResult,
    no_progress,
)
from neurmatic.deployment.model import Deployment
from neurmatic.deployment.patroni import PatroniFailover
from neurmatic.errors import PlatformUnavailable
from neurmatic.ops.flows.failover.redis import failover_redis

__all__ = [
    "DatabaseFailover",
    "FailoverFailed",
    "FailoverResult",
    "RebuildResult",
    "RedisFailoverResult",
    "failover_database",
    "failover_redis",
    "rebuild_standby",
]


def database_failover(deployment: Deployment, progress: Progress = no_progress) -> DatabaseFailover:
    """The deployment's Patroni cluster, as a ``DatabaseFailover``."""
    if not deployment.patroni_urls:
        raise PlatformUnavailable(
            f"{deployment.source} names no Patroni REST API, so there is no HA engine to ask",
            hint="set NEURMATIC_PATRONI_URLS (each database node's http://host:8008) and "
            "PATRONI_RESTAPI_PASSWORD in the env file",
        )
    return PatroniFailover(deployment.patroni_apis(), deployment.app, progress=progress)


def failover_database(
    deployment: Deployment,
    *,
    switchover: bool = False,
    force: bool = False,
    progress: Progress = no_progress,
    engine: DatabaseFailover | None = None,
) -> FailoverResult:
    """Fail over (default) or switch over the PostgreSQL primary, through Patroni; ``force`` promotes a
    standby that is not the synchronous one."""
    chosen = engine or database_failover(deployment, progress)
    return chosen.switchover() if switchover else chosen.failover(force=force)


def rebuild_standby(
    deployment: Deployment, *, progress: Progress = no_progress, engine: DatabaseFailover | None = None
) -> RebuildResult:
    """Make every standby that does not stream a streaming standby again (Patroni's reinitialize)."""
    return (engine or database_failover(deployment, progress)).rebuild_standby()
