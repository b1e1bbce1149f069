"""One health vocabulary for the API's ``/api/v1/health`` and the CLI's ``neurmatic health``.

A component (or check) is ``up``, ``degraded`` (works, but something needs attention), ``down``, or
``not_configured`` (the feature is off: not a problem). The verdict over them is ``unhealthy`` when a
critical component is down, ``degraded`` when anything is not up, else ``healthy``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum


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
