"""One health vocabulary for the API's ``/api/v1/health`` and the CLI's ``neurmatic health``.

A component (or check) is ``up``, ``degraded`` (works, but something needs attention), ``down``, or
``not_configured`` (the feature is off: not a problem). The verdict over them is ``unhealthy`` when a
critical component is down, ``degraded`` when anything is not up, else ``healthy``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neurmatic.adapters.patroni import Cluster


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    NOT_CONFIGURED = "not_configured"


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


def verdict(statuses: Mapping[str, str], critical: Collection[str] | None = None) -> Verdict:
    """The overall verdict; ``critical`` names the components whose being down makes it unhealthy
    (None: every one of them, as the operators' CLI sees it)."""
    vital = statuses.keys() if critical is None else critical
    if any(statuses.get(name) == Status.DOWN for name in vital):
        return Verdict.UNHEALTHY
    if any(status not in (Status.UP, Status.NOT_CONFIGURED) for status in statuses.values()):
        return Verdict.DEGRADED
    return Verdict.HEALTHY


# A standby further behind than this (bytes of WAL) is a warning: a failover to it would take that long.
REPLICA_LAG_WARN_BYTES = 16 * 1024 * 1024


def patroni_status(cluster: Cluster) -> tuple[Status, str]:
    """The Patroni cluster in the health vocabulary: down without a running leader; degraded when a
    member does not stream, lags, is missing, or automatic failover is paused; up otherwise."""
    from neurmatic.adapters.patroni import describe_member

    members = ", ".join(describe_member(m) for m in cluster.members)
    paused = "; automatic failover PAUSED" if cluster.paused else ""
    leader = cluster.leader
    if leader is None:
        return Status.DOWN, f"no running leader ({members or 'no members'}){paused}"
    standbys = [m for m in cluster.members if not m.is_leader]
    lagging = [m for m in standbys if m.state != "streaming" or (m.lag_bytes or 0) > REPLICA_LAG_WARN_BYTES]
    status = Status.DEGRADED if lagging or not standbys or cluster.paused else Status.UP
    return status, f"leader {leader.name}: {members}{paused}"
