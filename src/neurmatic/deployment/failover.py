"""The database failover interface: ``DatabaseFailover``, what it returns and raises, and the wait the
procedures share (over :func:`neurmatic.polling.poll`).

The ops flows (``ops/flows/failover/``) get a ``DatabaseFailover`` for a deployment; its implementation
is ``deployment/patroni.py``, which asks Patroni's REST API for the three moves (failover, switchover,
reinitialize). We run no leader election of our own: Patroni and etcd are the HA engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from neurmatic.errors import NeurmaticError
from neurmatic.polling import poll

Progress = Callable[[str], None]


def no_progress(_message: str) -> None:
    """The default progress sink: the flows are silent unless a command or a drill listens."""


class FailoverFailed(NeurmaticError):
    """A failover, switchover or standby rebuild stopped; the message says what state it left behind."""


@dataclass(frozen=True)
class FailoverResult:
    """A PostgreSQL primary change.

    ``method`` is ``failover`` (unplanned: the synchronous standby is promoted at once) or ``switchover``
    (planned: the leader stops cleanly first). ``old_primary_now`` is ``standby`` once the old leader
    streams as the synchronous standby, ``none`` when there was no running leader, else what Patroni says
    of it; ``follow_method`` says who made it a standby (``patroni``). ``unreplicated_bytes`` is the
    promoted standby's lag as Patroni reported it before the move (None: unknown).
    """

    method: str
    old_primary: str
    new_primary: str
    elapsed_seconds: float
    old_primary_now: str
    promoted_at_lsn: str
    follow_method: str | None = None
    unreplicated_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RebuildResult:
    """A node made a streaming standby again: ``method`` is ``pg_rewind``, ``pg_basebackup`` or ``none``
    (it already streamed); ``fallback_reason`` says why pg_rewind was not used, when it was not."""

    node: str
    primary: str
    method: str
    elapsed_seconds: float
    fallback_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RedisFailoverResult:
    """A Sentinel failover: the masters by name and address, and what the old master is now
    (``replica``, or ``unreachable`` when it is down and will be reconfigured when it returns)."""

    old_master: str
    new_master: str
    elapsed_seconds: float
    sentinels_agreeing: int
    old_master_now: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wait_until(check: Callable[[], bool], *, timeout: float, failure: str, hint: str | None = None) -> float:
    """Poll ``check`` (an exception counts as "not yet") until it holds; return the seconds it took.

    Raises FailoverFailed with ``failure`` and the timeout once ``timeout`` seconds have passed.
    """
    # A server restarting or not answering yet (an exception) is what we are waiting out.
    polled = poll(check, timeout=timeout, interval=0.05, backoff=1.5, max_interval=0.5)
    if not polled.done:
        raise FailoverFailed(
            f"{failure} within {timeout:g}s ({polled.why})", hint=hint
        ) from polled.last_error
    return polled.elapsed


class DatabaseFailover(Protocol):
    """Moving the PostgreSQL primary role, whoever does it (us by hand, or an HA engine)."""

    def failover(self, *, force: bool = False) -> FailoverResult:
        """Unplanned: the primary is lost or must go now; promote the synchronous standby (``force``: any
        standby, even one that may lack acknowledged commits)."""
        ...

    def switchover(self) -> FailoverResult:
        """Planned: swap primary and standby without losing a committed transaction."""
        ...

    def rebuild_standby(self) -> RebuildResult:
        """Make a standby that does not stream (damaged, far behind) a streaming standby again."""
        ...
