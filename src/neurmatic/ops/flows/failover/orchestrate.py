"""Failover behind one interface: what the CLI and the DR drills call.

A deployment's platform supplies the ``DatabaseFailover`` (``deployment/failover.py``); the local
topology's is ``supervisor/failover.ManualFailover``, and a deployment without a platform refuses (exit
3). Redis needs no such seam: Sentinel already is its HA engine; :func:`failover_redis` only drives it,
on any deployment that names its Sentinels.
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


def failover_database(
    deployment: Deployment,
    *,
    switchover: bool = False,
    progress: Progress = no_progress,
    engine: DatabaseFailover | None = None,
) -> FailoverResult:
    """Fail over (default) or switch over the PostgreSQL primary, through the deployment's platform."""
    chosen = engine or deployment.platform.database_failover(progress)
    return chosen.switchover() if switchover else chosen.failover()


def rebuild_standby(
    deployment: Deployment, *, progress: Progress = no_progress, engine: DatabaseFailover | None = None
) -> RebuildResult:
    """Make the non-primary node a streaming standby again (pg_rewind, else pg_basebackup)."""
    return (engine or deployment.platform.database_failover(progress)).rebuild_standby()
