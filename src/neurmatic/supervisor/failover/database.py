"""PostgreSQL failover (unplanned) and switchover (planned), decided by an operator or a drill.

No leader election here: the caller decides that the primary is gone (or should move). The steps are
ordered so that no moment has two nodes that could take writes:

* failover: fence the old primary first (marker, then an immediate stop if it still runs), then promote
  the standby, wait until it takes writes, reserve WAL for the future standby with a slot. Commits the
  standby had not received are lost; the old primary keeps them only until ``standby rebuild``.
* switchover: fence and fast-stop the primary (its shutdown checkpoint is shipped before the walsenders
  exit), wait until the standby has replayed past that checkpoint (so nothing committed is lost), promote
  it, and restart the old primary as its standby. Until the promotion any failure puts the old primary
  back as it was.

Clients need nothing: the multi-host ``DATABASE_URL`` with ``target_session_attrs=read-write`` finds the
new primary on the next connection, which the flow checks through the application's own URL.
"""

from __future__ import annotations

import time

import psycopg

from neurmatic.adapters.postgres import (
    accepts_writes,
    current_wal_lsn,
    ensure_physical_slot,
    format_lsn,
    promote,
    read_controldata,
    replay_lsn,
)
from neurmatic.db.url import DatabaseUrl
from neurmatic.deployment.failover import (
    FailoverFailed,
    FailoverResult,
    Progress,
    no_progress,
    wait_until,
)
from neurmatic.errors import NeurmaticError, TopologyError
from neurmatic.supervisor.failover.pg_nodes import (
    forget_upstream,
    is_running_primary,
    is_running_standby,
    is_streaming,
    other,
    running_primary,
    stop_node,
)
from neurmatic.supervisor.failover.standby import follow
from neurmatic.supervisor.services.postgres import PostgresNode, slot_name
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology

FENCED_BY = "neurmatic failover db"
PROMOTE_TIMEOUT = 60
WRITABLE_TIMEOUT = 30.0
CATCH_UP_TIMEOUT = 30.0


def failover(state: TopologyState, *, progress: Progress = no_progress) -> FailoverResult:
    """Unplanned: fence the primary (dead or alive), promote the standby. Returns old, new, seconds."""
    started = time.monotonic()
    topology = Topology(state)
    old, new = _failover_pair(topology)
    if new.running_pid() is None:
        progress(f"{new.name}: starting the standby")
        new.ensure_running()
    unreplicated = _unreplicated_bytes(old, new)
    if not old.is_fenced:
        old.fence(f"failover: {new.name} was promoted", successor=new.name, by=FENCED_BY)
    was_running = stop_node(old, immediate=True)
    progress(
        f"{old.name}: fenced" + (" and stopped (immediate shutdown)" if was_running else " (not running)")
    )
    promoted_at = _promote(new, progress)
    ensure_physical_slot(new.endpoint, slot_name(old.index))
    _check_clients_follow(topology, new)
    return FailoverResult(
        method="failover",
        old_primary=old.name,
        new_primary=new.name,
        elapsed_seconds=time.monotonic() - started,
        old_primary_now="fenced",
        promoted_at_lsn=promoted_at,
        unreplicated_bytes=unreplicated,
    )


def switchover(state: TopologyState, *, progress: Progress = no_progress) -> FailoverResult:
    """Planned: move the primary role to the streaming standby without losing a committed transaction."""
    started = time.monotonic()
    topology = Topology(state)
    old = running_primary(topology)
    new = other(topology, old)
    if not (is_running_standby(new) and is_streaming(old, new)):
        raise FailoverFailed(
            f"a switchover needs {new.name} running as a streaming standby of {old.name}",
            hint="rebuild it with `neurmatic standby rebuild`, or fail over without --switchover",
        )
    old.fence(f"switchover to {new.name} in progress", successor=new.name, by=f"{FENCED_BY} --switchover")
    progress(f"{old.name}: fast shutdown (its final checkpoint is shipped to {new.name})")
    stop_node(old, immediate=False)
    try:
        checkpoint = _await_catch_up(old, new, progress)
    except NeurmaticError:
        _restore_primary(old, progress)
        raise
    promoted_at = _promote(new, progress)
    ensure_physical_slot(new.endpoint, slot_name(old.index))
    _check_clients_follow(topology, new)
    progress(f"{old.name}: restarting as a standby of {new.name}")
    method = follow(old, new, progress)
    return FailoverResult(
        method="switchover",
        old_primary=old.name,
        new_primary=new.name,
        elapsed_seconds=time.monotonic() - started,
        old_primary_now="standby",
        promoted_at_lsn=promoted_at,
        follow_method=method,
        unreplicated_bytes=0 if checkpoint is not None else None,
    )


def _failover_pair(topology: Topology) -> tuple[PostgresNode, PostgresNode]:
    """(old primary, standby to promote), from the nodes' data directories (the old one may be dead)."""
    standbys = [node for node in topology.postgres if node.is_standby_node]
    if len(standbys) == 1:
        new = standbys[0]
        if new.is_fenced:
            raise FailoverFailed(
                f"{new.name} is a standby still being rebuilt (fenced); it is not safe to promote",
                hint="finish `neurmatic standby rebuild` first",
            )
        return other(topology, new), new
    if standbys:
        raise FailoverFailed("both PostgreSQL nodes are standbys: there is no primary to fail over from")
    fenced = [node for node in topology.postgres if node.is_fenced]
    if fenced:
        current = other(topology, fenced[0])
        raise FailoverFailed(
            f"nothing to fail over to: {current.name} is already the primary and {fenced[0].name} is fenced",
            hint="make the fenced node a standby again with `neurmatic standby rebuild`",
        )
    raise FailoverFailed(
        "no standby to promote (neither node has standby.signal)",
        hint="bring the standby up with `neurmatic up`",
    )


def _unreplicated_bytes(old: PostgresNode, new: PostgresNode) -> int | None:
    """WAL the live old primary wrote beyond the standby's replay point (None when it does not answer)."""
    if not is_running_primary(old):
        return None
    try:
        replayed = replay_lsn(new.endpoint)
        return max(0, current_wal_lsn(old.endpoint) - replayed) if replayed is not None else None
    except TopologyError:
        return None


def _promote(new: PostgresNode, progress: Progress) -> str:
    progress(f"{new.name}: promoting")
    promote(new.endpoint, timeout=PROMOTE_TIMEOUT)
    seconds = wait_until(
        lambda: accepts_writes(new.endpoint),
        timeout=WRITABLE_TIMEOUT,
        failure=f"{new.name} was promoted but does not accept writes",
        hint=f"see `neurmatic logs {new.name}`",
    )
    forget_upstream(new)
    lsn = format_lsn(current_wal_lsn(new.endpoint))
    progress(f"{new.name}: primary, accepting writes ({seconds:.1f}s after promotion)")
    return lsn


def _await_catch_up(old: PostgresNode, new: PostgresNode, progress: Progress) -> int:
    """Wait until ``new`` replayed past ``old``'s shutdown checkpoint; return that checkpoint's LSN."""
    control = read_controldata(old.data_dir, user=old.state.account.name)
    if not control.cleanly_shut_down:
        raise FailoverFailed(
            f"{old.name} did not shut down cleanly (state: {control.cluster_state}); nothing was promoted",
            hint=f"see `neurmatic logs {old.name}`; `neurmatic failover db` promotes anyway",
        )
    checkpoint = control.checkpoint_lsn

    def replayed_past_checkpoint() -> bool:
        replayed = replay_lsn(new.endpoint)
        return replayed is not None and replayed > checkpoint

    wait_until(
        replayed_past_checkpoint,
        timeout=CATCH_UP_TIMEOUT,
        failure=f"{new.name} did not replay {old.name}'s final checkpoint {format_lsn(checkpoint)}",
        hint="the standby may be disconnected or far behind; nothing was promoted",
    )
    progress(
        f"{new.name}: replayed everything up to {old.name}'s shutdown checkpoint {format_lsn(checkpoint)}"
    )
    return checkpoint


def _restore_primary(old: PostgresNode, progress: Progress) -> None:
    """Undo a switchover that stopped before the promotion: the old primary serves again."""
    old.unfence()
    old.ensure_running()
    progress(f"{old.name}: switchover abandoned; running as the primary again")


def _check_clients_follow(topology: Topology, new: PostgresNode) -> None:
    """The application's own multi-host DATABASE_URL must now reach ``new`` for writes."""
    url = DatabaseUrl.parse(topology.app_environment()["DATABASE_URL"])

    def lands_on_new_primary() -> bool:
        with psycopg.connect(url.driver_dsn(), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT inet_server_port(), NOT pg_is_in_recovery()").fetchone()
            return bool(row and row[0] == new.port and row[1])

    wait_until(
        lands_on_new_primary,
        timeout=WRITABLE_TIMEOUT,
        failure=f"the application's DATABASE_URL does not reach {new.name} for writes",
        hint="check DATABASE_URL lists both nodes with target_session_attrs=read-write",
    )
