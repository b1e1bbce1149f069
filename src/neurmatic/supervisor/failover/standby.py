"""Make a node a streaming standby of the current primary again (``neurmatic standby rebuild``).

The node is usually the fenced old primary of a failover, whose WAL may have run past the point where
the new primary's timeline forked. pg_rewind undoes exactly that divergence (copying only the changed
blocks, so it takes seconds); it needs hint-bit changes in the WAL, which our ``initdb --data-checksums``
guarantees. When the data directory is missing, cannot be rewound, or the rewound node does not reach
streaming, a fresh pg_basebackup replaces it (cloned beside it and swapped in only when complete).
The fence marker goes only once the primary reports the node ``streaming``.
"""

from __future__ import annotations

import time

from neurmatic.adapters.pg_log import ServerLog, start_failure
from neurmatic.adapters.postgres import drop_inactive_slots, ensure_physical_slot, read_controldata, rewind
from neurmatic.deployment.failover import (
    FailoverFailed,
    Progress,
    RebuildResult,
    no_progress,
    wait_until,
)
from neurmatic.errors import NeurmaticError, TopologyError
from neurmatic.private_files import write_private_file
from neurmatic.supervisor.failover.pg_nodes import (
    is_running_standby,
    is_streaming,
    other,
    running_primary,
    stop_node,
)
from neurmatic.supervisor.services.postgres import (
    PostgresNode,
    clone_standby,
    slot_name,
    write_standby_settings,
)
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology

STREAMING_TIMEOUT = 30.0


def rebuild_standby(state: TopologyState, *, progress: Progress = no_progress) -> RebuildResult:
    """Make the node that is not the running primary a streaming standby of it; say which method did it."""
    started = time.monotonic()
    topology = Topology(state)
    primary = running_primary(topology)
    target = other(topology, primary)
    if not target.is_fenced and is_running_standby(target) and _safe_is_streaming(primary, target):
        progress(f"{target.name} already streams from {primary.name}; nothing to rebuild")
        return RebuildResult(target.name, primary.name, "none", time.monotonic() - started)
    method, reason = rebuild_node(target, primary, progress)
    return RebuildResult(target.name, primary.name, method, time.monotonic() - started, reason)


def rebuild_node(target: PostgresNode, primary: PostgresNode, progress: Progress) -> tuple[str, str | None]:
    """Rewind ``target`` onto ``primary`` (else a base backup); return (method, why not pg_rewind)."""
    if stop_node(target, immediate=False):
        progress(f"{target.name}: stopped")
    # Reserve WAL for the node from now on: what it misses while being rebuilt must still be there.
    ensure_physical_slot(primary.endpoint, slot_name(target.index))
    reason = _rewind_obstacle(target)
    if reason is None:
        progress(f"{target.name}: pg_rewind onto {primary.name}")
        try:
            _rewind(target, primary, progress)
            start_streaming(target, primary, progress)
            return "pg_rewind", None
        except NeurmaticError as exc:  # the whole reason: the base backup it costs may take hours
            reason = f"pg_rewind did not give a streaming standby: {exc.message}"
            stop_node(target, immediate=True)
    progress(f"{target.name}: fresh pg_basebackup from {primary.name} ({reason})")
    clone_standby(target, primary, replace_existing=True)
    start_streaming(target, primary, progress)
    return "pg_basebackup", reason


def follow(node: PostgresNode, primary: PostgresNode, progress: Progress) -> str:
    """Turn a cleanly stopped old primary into a standby of ``primary`` (a switchover's last step).

    A clean shutdown ends the old primary's WAL at its shutdown checkpoint, which the new primary replayed
    before it was promoted, so restarting it as a standby is enough: it follows the new timeline. If it
    does not reach streaming anyway, it is rebuilt. Returns how: ``restart``, ``pg_rewind`` or
    ``pg_basebackup``.
    """
    write_standby_settings(node.data_dir, node.state, node.index, primary.port)
    try:
        start_streaming(node, primary, progress)
        return "restart"
    except NeurmaticError as exc:
        progress(f"{node.name}: did not follow by a restart ({exc.message}); rebuilding")
    method, _ = rebuild_node(node, primary, progress)
    return method


def start_streaming(
    node: PostgresNode, primary: PostgresNode, progress: Progress, *, timeout: float = STREAMING_TIMEOUT
) -> None:
    """Start the standby ``node``, wait until ``primary`` reports it streaming, then lift its fence.

    A failure says why in the server's words: what its log explains since this start."""
    log = ServerLog(node.paths.log(node.name))
    offset = log.offset()
    hint = f"see `neurmatic logs {node.name}`"
    try:
        node.ensure_running()
        seconds = wait_until(
            lambda: is_streaming(primary, node),
            timeout=timeout,
            failure=f"{node.name} did not start streaming from {primary.name}",
            hint=hint,
        )
    except NeurmaticError as exc:
        raise FailoverFailed(start_failure(exc.message, log.lines_since(offset)), hint=hint) from exc
    progress(f"{node.name}: streaming from {primary.name} ({seconds:.1f}s after start)")
    try:  # slots it held as a primary would keep WAL on the standby forever
        dropped = drop_inactive_slots(node.endpoint)
    except TopologyError:
        dropped = []
    if dropped:
        progress(f"{node.name}: dropped stale replication slots {', '.join(dropped)}")
    node.unfence()


def _rewind_obstacle(target: PostgresNode) -> str | None:
    """Why pg_rewind cannot be tried on ``target`` (None: it can)."""
    if not target.initialised:
        return f"{target.data_dir} holds no cluster"
    try:
        control = read_controldata(target.data_dir, user=target.state.account.name)
    except NeurmaticError as exc:
        return f"pg_controldata failed: {exc.message.splitlines()[0]}"
    if not control.rewindable:
        return "the cluster has neither data checksums nor wal_log_hints, which pg_rewind needs"
    return None


def _rewind(target: PostgresNode, primary: PostgresNode, progress: Progress) -> None:
    marker = target.fence_file.read_text() if target.is_fenced else None
    try:
        output = rewind(target.data_dir, primary.endpoint, user=target.state.account.name)
        last = [line for line in output.splitlines() if line.startswith("pg_rewind:")][-1:]
        progress(f"{target.name}: {last[0] if last else 'pg_rewind finished'}")
    finally:
        if marker is not None:  # pg_rewind deletes files the source lacks, our fence marker included
            write_private_file(target.fence_file, marker, target.state.account)
    write_standby_settings(target.data_dir, target.state, target.index, primary.port)


def _safe_is_streaming(primary: PostgresNode, standby: PostgresNode) -> bool:
    try:
        return is_streaming(primary, standby)
    except TopologyError:
        return False
