"""Bring-up in dependency order, teardown in reverse, and the status table.

Every step waits on the server's own readiness probe; a failure stops the bring-up with the server's
log tail and leaves what already runs running (a second ``up`` continues from there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from neurmatic.db.migrate import upgrade_to_head
from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import ServiceStartError, StateDirError
from neurmatic.supervisor.layout import DEFAULT_BASE_PORT, Paths
from neurmatic.supervisor.service import Service, ServiceStatus, check_port_free
from neurmatic.supervisor.services.postgres import PostgresNode, PrimaryBootstrap, clone_standby, write_pgpass
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology
from neurmatic.supervisor.watcher import Watcher

log = logging.getLogger("neurmatic.supervisor")
Progress = Callable[[str], None]
SENTINEL_QUORUM_TIMEOUT = 30.0


def open_or_create(root: Path, *, base_port: int | None, api_instances: int = 2) -> TopologyState:
    """Load the state directory, or create it (checking every port first) when it has no topology."""
    if Paths(root).topology_file.exists():
        state = TopologyState.load(root)
        if base_port is not None and base_port != state.ports.base:
            raise StateDirError(
                f"{root} was created with base port {state.ports.base}, not {base_port}",
                hint="drop --base-port, or use another --state-dir for a second topology",
            )
        return state
    from neurmatic.supervisor.layout import Ports

    ports = Ports(base_port or DEFAULT_BASE_PORT)
    for port in ports.all_ports(api_instances):
        check_port_free(port, "the topology")
    return TopologyState.create(root, base_port=ports.base, api_instances=api_instances)


def up(state: TopologyState, progress: Progress = lambda _msg: None) -> Topology:
    """Start whatever is not running, in order; return when every service is ready."""
    topology = Topology(state)
    write_pgpass(state)
    primary, standby = topology.postgres_in_start_order()
    _start_primary(topology, primary, progress)
    topology.write_app_environment()
    progress("migrations: upgrading the schema to head")
    upgrade_to_head(DatabaseUrl.parse(topology.app_environment()["DATABASE_URL"]))
    if not standby.initialised:
        progress(f"{standby.name}: cloning from {primary.name} with pg_basebackup")
        clone_standby(standby, primary)
    _ensure(standby, progress)
    for service in [*topology.redis_in_start_order(), *topology.sentinels]:
        _ensure(service, progress)
    _await_sentinel_quorum(topology, progress)
    for service in [topology.mail, *topology.apis, topology.worker, topology.nginx]:
        _ensure(service, progress)
    Watcher(state).ensure_running()
    return topology


def _ensure(service: Service, progress: Progress) -> None:
    started = time.monotonic()
    if service.ensure_running():
        progress(f"{service.name}: ready in {time.monotonic() - started:.1f}s")
    else:
        progress(f"{service.name}: already running")


def _start_primary(topology: Topology, primary: PostgresNode, progress: Progress) -> None:
    bootstrap = PrimaryBootstrap(primary)
    if not primary.initialised:
        progress(f"{primary.name}: initdb")
        bootstrap.initdb()
    _ensure(primary, progress)
    # Idempotent, so run on every bring-up: one interrupted after initdb still ends with the roles.
    bootstrap.create_roles_and_database()


def _await_sentinel_quorum(topology: Topology, progress: Progress) -> None:
    """Sentinels find each other through the master's hello channel; wait until they agree on quorum."""
    deadline = time.monotonic() + SENTINEL_QUORUM_TIMEOUT
    while not all(sentinel.quorum_reached() for sentinel in topology.sentinels):
        if time.monotonic() > deadline:
            raise ServiceStartError(
                "the Sentinels did not see each other within "
                f"{SENTINEL_QUORUM_TIMEOUT:g}s (SENTINEL CKQUORUM fails)",
                hint="see `neurmatic logs sentinel-1`",
            )
        time.sleep(0.25)
    progress("sentinels: quorum reached (3 sentinels, quorum 2)")


def down(state: TopologyState, progress: Progress = lambda _msg: None) -> None:
    """Stop the watcher first (so it restarts nothing), then every service in reverse order."""
    Watcher(state).stop()
    for service in reversed(Topology(state).services()):
        was_running = service.running_pid() is not None
        service.stop()
        if was_running:
            progress(f"{service.name}: stopped")


def status(state: TopologyState) -> list[ServiceStatus]:
    return [service.status() for service in Topology(state).services()]
