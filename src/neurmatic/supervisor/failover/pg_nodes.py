"""Facts about the two PostgreSQL nodes that the failover flows act on, asked of the servers themselves,
and the one way the flows stop a node."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import psutil

from neurmatic.adapters.postgres import accepts_writes, is_in_recovery, query, replication_state
from neurmatic.deployment.failover import FailoverFailed
from neurmatic.errors import TopologyError
from neurmatic.supervisor.process import terminate
from neurmatic.supervisor.services.postgres import PostgresNode, slot_name
from neurmatic.supervisor.topology import Topology

IMMEDIATE_STOP_GRACE = 10.0
FAST_STOP_GRACE = 60.0


def other(topology: Topology, node: PostgresNode) -> PostgresNode:
    return next(n for n in topology.postgres if n is not node)


def is_running_primary(node: PostgresNode) -> bool:
    return node.running_pid() is not None and accepts_writes(node.endpoint)


def is_running_standby(node: PostgresNode) -> bool:
    if node.running_pid() is None:
        return False
    try:
        return is_in_recovery(node.endpoint)
    except TopologyError:
        return False


def running_primary(topology: Topology) -> PostgresNode:
    """The node that runs and takes writes now; FailoverFailed when there is none or (never) two."""
    primaries = [node for node in topology.postgres if is_running_primary(node)]
    if len(primaries) == 1:
        return primaries[0]
    if not primaries:
        raise FailoverFailed(
            "no PostgreSQL node is running as the primary",
            hint="start it with `neurmatic up`, or promote the standby with `neurmatic failover db`",
        )
    raise FailoverFailed(
        "both PostgreSQL nodes take writes (split brain); refusing to act",
        hint="stop the node with the older data (`neurmatic status` shows both) and rebuild it",
    )


def is_streaming(primary: PostgresNode, standby: PostgresNode) -> bool:
    """True when ``primary``'s walsender for ``standby`` reports ``streaming``."""
    return replication_state(primary.endpoint, slot_name(standby.index)) == "streaming"


def forget_upstream(node: PostgresNode) -> None:
    """Drop a promoted node's standby settings so its config no longer points at the old primary."""
    with contextlib.suppress(TopologyError):
        query(node.endpoint, "ALTER SYSTEM RESET primary_conninfo")
        query(node.endpoint, "ALTER SYSTEM RESET primary_slot_name")


def stop_node(node: PostgresNode, *, immediate: bool) -> bool:
    """Stop ``node``; True when something was running.

    ``immediate`` (SIGQUIT) is the fence: no shutdown checkpoint, nothing more written. Otherwise a fast
    shutdown (SIGINT): a clean checkpoint that the walsenders ship before they exit. Besides the pid our
    pid file records, a postmaster that ``postmaster.pid`` names for this data directory is stopped too,
    so a server started behind our back cannot escape the fence.
    """
    pids = {pid for pid in (node.running_pid(), _postmaster_of(node.data_dir)) if pid is not None}
    sig = signal.SIGQUIT if immediate else signal.SIGINT
    grace = IMMEDIATE_STOP_GRACE if immediate else FAST_STOP_GRACE
    for pid in pids:
        terminate(pid, grace=grace, sig=sig)
    node.pidfile.remove()
    return bool(pids)


def _postmaster_of(data_dir: Path) -> int | None:
    """The live postmaster that ``data_dir/postmaster.pid`` names, if it really serves that directory."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        if process.status() != psutil.STATUS_ZOMBIE and str(data_dir) in process.cmdline():
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None
