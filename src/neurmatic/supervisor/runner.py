"""Bring-up in dependency order, teardown in reverse, and the status table.

Every step waits on the server's own readiness probe; a failure stops the bring-up with the server's
log tail and leaves what already runs running (a second ``up`` continues from there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import ServiceStartError, StateDirError, TopologyError
from neurmatic.polling import poll
from neurmatic.supervisor.layout import DEFAULT_BASE_PORT, Paths
from neurmatic.supervisor.service import Service, ServiceStatus, check_port_free
from neurmatic.supervisor.services.postgres import (
    FENCE_MARKER,
    PostgresNode,
    PrimaryBootstrap,
    clone_standby,
    write_pgpass,
)
from neurmatic.supervisor.state import TopologyState, service_releases
from neurmatic.supervisor.topology import Topology
from neurmatic.supervisor.watcher import Watcher

log = logging.getLogger("neurmatic.supervisor")
Progress = Callable[[str], None]
SENTINEL_QUORUM_TIMEOUT = 30.0


def open_or_create(
    root: Path, *, base_port: int | None, api_instances: int = 2, secrets_file: Path | None = None
) -> TopologyState:
    """Load the state directory, or create it (checking every port first) when it has no topology;
    a new one takes its secrets from ``secrets_file`` when given (the secrets manager's copy)."""
    if Paths(root).topology_file.exists():
        if secrets_file is not None:
            raise StateDirError(
                f"{root} already holds a topology with its own secrets",
                hint="--secrets-file only seeds a new state directory; drop it or choose another --state-dir",
            )
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
    secrets = imported_secrets(secrets_file) if secrets_file else None
    return TopologyState.create(root, base_port=ports.base, api_instances=api_instances, secrets=secrets)


def imported_secrets(path: Path) -> dict[str, str]:
    """Every secret the topology needs, from an env file; a missing one is named, never made up."""
    from neurmatic.private_files import read_env_file
    from neurmatic.supervisor.state import SECRET_NAMES

    try:
        values = read_env_file(path)
    except OSError as exc:
        raise StateDirError(f"cannot read the secrets file {path}: {exc.strerror}") from exc
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if missing:
        raise StateDirError(
            f"{path} lacks {', '.join(missing)}",
            hint="use the secrets.env saved from the lost state directory",
        )
    return {name: values[name] for name in SECRET_NAMES}


def up(state: TopologyState, progress: Progress = lambda _msg: None) -> Topology:
    """Start whatever is not running, in order; return when every service is ready."""
    topology = Topology(state)
    write_pgpass(state)
    primary, standby = topology.postgres_in_start_order()
    check_one_primary(primary, standby)
    _start_primary(topology, primary, progress)
    topology.write_app_environment()
    _migrate(topology, progress)
    if not standby.initialised:
        progress(f"{standby.name}: cloning from {primary.name} with pg_basebackup")
        clone_standby(standby, primary)
    if standby.is_fenced and not standby.is_standby_node:
        # The old primary of a failover: starting it would make two primaries. Everything else comes up.
        progress(f"{standby.name}: not started, {standby.fence_reason()}; run `neurmatic standby rebuild`")
    else:
        _ensure(standby, progress)
    for service in [*topology.redis_in_start_order(), *topology.sentinels]:
        _ensure(service, progress)
    _await_sentinel_quorum(topology, progress)
    for service in [topology.mail, *topology.apis, topology.worker, topology.nginx]:
        _ensure(service, progress)
    Watcher(state).ensure_running()
    return topology


def check_one_primary(primary: PostgresNode, other: PostgresNode) -> None:
    """Refuse a bring-up that would start two primaries, or none.

    ``primary`` is the first of :meth:`Topology.postgres_in_start_order`; the order alone cannot tell a
    healthy pair from two nodes that both believe they are primaries (standby.signal removed by hand).
    """
    if not primary.initialised:
        return  # a new topology: initdb makes the first primary
    if primary.is_standby_node or primary.is_fenced:
        raise TopologyError(
            f"no PostgreSQL node may start as the primary: {primary.name} and {other.name} are both "
            "standbys or fenced",
            hint="promote the standby with `neurmatic failover db` (it completes an interrupted failover)",
        )
    if other.initialised and not other.is_standby_node and not other.is_fenced:
        raise TopologyError(
            f"{primary.name} and {other.name} are both primaries on disk (neither has standby.signal); "
            "starting both would split the database",
            hint=f"keep the node with the newest data; create {FENCE_MARKER} in the other's data directory "
            "and run `neurmatic standby rebuild`",
        )


def _migrate(topology: Topology, progress: Progress) -> None:
    """Upgrade the schema with the migrations of the release the API runs (its own interpreter and code).

    After a rollback the database may be ahead of that release (deploys only expand it): left alone.
    """
    # Alembic and SQLAlchemy are imported here, not with the module: `status` and `down` need neither.
    from neurmatic.db.migrate import upgrade_to_head
    from neurmatic.db.release_migrations import migrate_release, release_migrations

    url = DatabaseUrl.parse(topology.app_environment()["DATABASE_URL"])
    paths = topology.state.paths
    if not paths.service_releases.exists():  # never deployed: the installed package, in-process
        progress("migrations: upgrading the schema to head")
        upgrade_to_head(url)
        return
    release = service_releases(paths).get("backend-1")
    python = paths.release_python(release) if release else None
    outcome = migrate_release(
        python, release_migrations(paths.release_dir(release) / "src" if release else None), url, check=False
    )
    ahead = " (the database is ahead of this release: left as it is)" if outcome.ahead else ""
    progress(f"migrations of {release or 'the installed package'}: at {outcome.to_revision}{ahead}")


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

    def lacking() -> list[str]:  # the Sentinels that do not see a quorum yet
        return [sentinel.name for sentinel in topology.sentinels if not sentinel.quorum_reached()]

    polled = poll(
        lacking, timeout=SENTINEL_QUORUM_TIMEOUT, interval=0.25, done=lambda names: not names, catch=()
    )
    if not polled.done:
        raise ServiceStartError(
            "the Sentinels did not see each other within "
            f"{SENTINEL_QUORUM_TIMEOUT:g}s (SENTINEL CKQUORUM fails on {', '.join(polled.value or [])})",
            hint="see `neurmatic logs sentinel-1`",
        )
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
    """Every service's status, in the topology's order. The probes are network round trips (a query, an
    INFO, an HTTP request) to independent servers: asked at once, not one after the other."""
    services = Topology(state).services()
    with ThreadPoolExecutor(max_workers=len(services) or 1, thread_name_prefix="status") as pool:
        return list(pool.map(lambda service: service.status(), services))
