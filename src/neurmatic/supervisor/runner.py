"""Bring-up in dependency order, teardown in reverse, and the status table.

Every step waits on the server's own readiness probe; a failure stops the bring-up with the server's
log tail and leaves what already runs running (a second ``up`` continues from there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from neurmatic.adapters.patroni import first_cluster
from neurmatic.adapters.postgres import accepts_writes
from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import ServiceStartError, StateDirError, TopologyError
from neurmatic.polling import poll
from neurmatic.supervisor.layout import DEFAULT_BASE_PORT, HOST, Paths
from neurmatic.supervisor.service import Service, ServiceStatus, check_port_free
from neurmatic.supervisor.services.postgres import PostgresNode, create_roles_and_database
from neurmatic.supervisor.state import TopologyState, service_releases
from neurmatic.supervisor.topology import Topology
from neurmatic.supervisor.watcher import Watcher

log = logging.getLogger("neurmatic.supervisor")
Progress = Callable[[str], None]
SENTINEL_QUORUM_TIMEOUT = 30.0
LEADER_TIMEOUT = 120.0
SYNC_TIMEOUT = 120.0


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
    from neurmatic.supervisor.state import FRESH_IF_MISSING, SECRET_NAMES

    try:
        values = read_env_file(path)
    except OSError as exc:
        raise StateDirError(f"cannot read the secrets file {path}: {exc.strerror}") from exc
    from neurmatic.secret_policy import generate_secret

    for name in FRESH_IF_MISSING:  # guards nothing that outlives the lost server: a new one will do
        values.setdefault(name, generate_secret())
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if missing:
        raise StateDirError(
            f"{path} lacks {', '.join(missing)}",
            hint="use the secrets.env saved from the lost state directory",
        )
    return {name: values[name] for name in SECRET_NAMES}


def up(state: TopologyState, progress: Progress = lambda _msg: None) -> Topology:
    """Start whatever is not running, in order; return when every service is ready."""
    # here: `status` imports this module, not the templates
    from neurmatic.supervisor import archiving, web_client

    topology = Topology(state)
    for service in topology.monitoring:  # installed? (MissingBinaryError) before anything starts
        service.command()
    _private_logs(state)
    archiving.record_from_environment(state)
    _start_together(topology.etcd, progress)
    progress("etcd: 3 members, healthy")
    first, *others = topology.postgres
    if not any(node.initialised for node in topology.postgres):
        # A new cluster: one Patroni bootstraps it (initdb); the others then clone themselves from it.
        _ensure(first, progress)
        leader = await_leader(topology, progress)
    else:
        # An existing cluster: every Patroni at once, and they agree who leads (a lone former replica
        # may have to wait for the node that holds the newest data).
        _start_together(topology.postgres, progress)
        leader = await_leader(topology, progress)
    create_roles_and_database(leader)
    newest_backup = archiving.prepare_repository(state, leader.index, progress)
    topology.write_app_environment()
    _migrate(topology, progress)
    _start_together(others, progress)
    await_sync_standby(topology, progress)
    for service in [*topology.redis_in_start_order(), *topology.sentinels]:
        _ensure(service, progress)
    _await_sentinel_quorum(topology, progress)
    if newest_backup is not None:  # the metrics' backup age starts from the repository's newest backup
        from neurmatic.backup_status import record_physical_success
        from neurmatic.supervisor.services.app import app_settings

        record_physical_success(newest_backup, app_settings(state).redis)
    web_client.install(state, progress)
    for service in [topology.mail, *topology.apis, topology.worker, topology.nginx]:
        _ensure(service, progress)
    from neurmatic.supervisor.services.monitoring_access import grant_redis_exporter_access

    grant_redis_exporter_access(state)
    # The watcher before monitoring: a monitoring server that cannot start must not leave the
    # databases' Patroni and the API unwatched.
    Watcher(state).ensure_running()
    _start_together(topology.monitoring, progress)
    return topology


def _private_logs(state: TopologyState) -> None:
    """Logs are for the service account and root: they hold addresses, user ids, statements."""
    for directory in (state.paths.logs, state.paths.nginx / "logs"):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o750)
        state.account.own(directory)


def _start_together(services: Sequence[Service], progress: Progress) -> None:
    """Start every service of a cluster that is not running, then wait for each: a member of etcd or
    Patroni is only ready once its peers run too."""
    started = time.monotonic()
    spawned = []
    for service in services:
        if service.running_pid() is None:
            service.prepare()
            service.start()
            spawned.append(service)
    for service in services:
        service.wait_ready()
        if service in spawned:
            progress(f"{service.name}: ready in {time.monotonic() - started:.1f}s")


def await_leader(topology: Topology, progress: Progress, timeout: float = LEADER_TIMEOUT) -> PostgresNode:
    """The node Patroni made the leader, once it runs and takes writes."""

    def leader() -> PostgresNode | None:
        node = topology.patroni_leader()
        return node if node is not None and accepts_writes(node.endpoint) else None

    polled = poll(leader, timeout=timeout, interval=0.25, done=lambda node: node is not None)
    if not polled.done or polled.value is None:
        raise ServiceStartError(
            f"Patroni elected no PostgreSQL leader within {timeout:g}s ({polled.why})",
            hint="see `neurmatic logs postgres-1` and `neurmatic logs postgres-2`",
        ) from polled.last_error
    progress(f"{polled.value.name}: Patroni leader, accepting writes")
    return polled.value


def await_sync_standby(topology: Topology, progress: Progress, timeout: float = SYNC_TIMEOUT) -> None:
    """Wait until a standby streams as the synchronous standby: from then on no acknowledged commit
    exists on the leader alone."""

    def sync_standby() -> str | None:
        cluster = first_cluster([node.api for node in topology.postgres])
        member = next(
            (m for m in cluster.members if m.role == "sync_standby" and m.state == "streaming"), None
        )
        return member.name if member else None

    polled = poll(sync_standby, timeout=timeout, interval=0.25, done=lambda name: name is not None)
    if not polled.done:
        raise ServiceStartError(
            f"no standby became Patroni's synchronous standby within {timeout:g}s ({polled.why})",
            hint="see `neurmatic logs postgres-1` and `neurmatic logs postgres-2`",
        ) from polled.last_error
    progress(f"{polled.value}: synchronous standby, streaming")


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
    """Stop the watcher first (so it restarts nothing), then every service in reverse order; the
    PostgreSQL standbys before the leader, so the leader's last commits are the newest data."""
    Watcher(state).stop()
    topology = Topology(state)
    leader = _current_leader(topology)
    postgres = sorted(topology.postgres, key=lambda node: node is leader)  # the leader last
    stop_order = [s for s in reversed(topology.services()) if s not in topology.postgres]
    at = stop_order.index(topology.etcd[-1])  # PostgreSQL goes down while etcd still holds its keys
    for service in [*stop_order[:at], *postgres, *stop_order[at:]]:
        was_running = service.running_pid() is not None
        service.stop()
        if was_running:
            progress(f"{service.name}: stopped")


def _current_leader(topology: Topology) -> PostgresNode | None:
    try:
        return topology.patroni_leader()
    except TopologyError:
        return None


def status(state: TopologyState) -> list[ServiceStatus]:
    """Every service's status, in the topology's order. The probes are network round trips (a query, an
    INFO, an HTTP request) to independent servers: asked at once, not one after the other."""
    services = Topology(state).services()
    with ThreadPoolExecutor(max_workers=len(services) or 1, thread_name_prefix="status") as pool:
        return [*pool.map(lambda service: service.status(), services), watcher_status(state)]


def watcher_status(state: TopologyState) -> ServiceStatus:
    """The watcher as a row of its own: without it nothing restarts a crashed Patroni (whose PostgreSQL
    would run on unsupervised), etcd member, API instance or worker."""
    pid = Watcher(state).pidfile.running_pid()
    if pid is None:
        detail = "NOT running: nothing restarts a crashed service; `neurmatic up` starts it"
        return ServiceStatus("watcher", "supervisor", HOST, None, None, "stopped", detail)
    detail = "restarts a crashed Patroni, etcd member, API instance or worker"
    return ServiceStatus("watcher", "supervisor", HOST, None, pid, "ready", detail)
