"""PostgreSQL nodes ``postgres-1`` and ``postgres-2``, each run by its own Patroni.

The supervised process is Patroni: it bootstraps the cluster (the first node to start on an empty cluster
runs initdb; the other clones itself with pg_basebackup), starts and stops its PostgreSQL, holds or
follows the leader key in etcd, promotes a standby when the leader is lost, and rewinds an old primary
into a replica. The supervisor never starts, promotes or fences a postmaster itself; it keeps Patroni
running (the watcher restarts a dead one at once: a Patroni that died leaves its PostgreSQL running, and
only a live Patroni demotes it when another node took the lead).

Roles come from Patroni (``GET /cluster``): the leader is the ``primary``, the others ``standby``; the
status detail carries Patroni's own role, state, timeline and lag.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurmatic.adapters.patroni import STUCK_STATES, Member, PatroniApi, describe_member
from neurmatic.adapters.postgres import PgEndpoint, ensure_database, ensure_role, pg_binary, query
from neurmatic.private_files import write_private_file
from neurmatic.supervisor.layout import (
    APP_DB_USER,
    DATABASE_NAME,
    HOST,
    METRICS_USER,
    REPLICATION_USER,
    SUPERUSER,
)
from neurmatic.supervisor.process import terminate
from neurmatic.supervisor.service import Service, ServiceStatus
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:
    import psycopg

PG_NODES = (1, 2)
RUNNING_STATES = ("running", "streaming")  # Patroni's words for a primary and a replica that serve


def superuser_endpoint(state: TopologyState, index: int, dbname: str = "postgres") -> PgEndpoint:
    return PgEndpoint(
        HOST, state.ports.postgres(index), SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], dbname
    )


def app_connection(state: TopologyState, index: int) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to node ``index`` as the application role (benchmarks, tests, drills)."""
    import psycopg

    return psycopg.connect(
        host=HOST,
        port=state.ports.postgres(index),
        user=APP_DB_USER,
        password=state.secrets["POSTGRES_PASSWORD"],
        dbname=DATABASE_NAME,
        autocommit=True,
    )


def patroni_api(state: TopologyState, index: int, *, timeout: float = 3.0) -> PatroniApi:
    """Node ``index``'s Patroni REST API, with the credentials its POST endpoints need."""
    return PatroniApi(
        f"http://{HOST}:{state.ports.patroni(index)}",
        state.secrets["PATRONI_RESTAPI_PASSWORD"],
        timeout=timeout,
    )


class PostgresNode(Service):
    """A PostgreSQL node: the Patroni process, which runs the postmaster as its child."""

    restartable = True  # a dead Patroni is restarted at once (see the module's docstring)
    stop_signal = signal.SIGTERM  # Patroni stops PostgreSQL (fast shutdown) and hands over its leader key
    stop_grace = 60.0
    ready_timeout = 180.0  # a new replica clones the primary before it answers

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"postgres-{index}"
        super().__init__(state)
        self.data_dir = self.paths.postgres_data(index)
        self.config = self.paths.patroni_config(index)

    @property
    def port(self) -> int:
        return self.state.ports.postgres(self.index)

    @property
    def rest_port(self) -> int:
        return self.state.ports.patroni(self.index)

    def bound_ports(self) -> list[int]:
        # Only Patroni's own port: a PostgreSQL left running by a Patroni that died still holds its port,
        # and the restarted Patroni adopts it.
        return [self.rest_port]

    @property
    def endpoint(self) -> PgEndpoint:
        return superuser_endpoint(self.state, self.index)

    @property
    def api(self) -> PatroniApi:
        return patroni_api(self.state, self.index)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("patroni")), str(self.config)]

    def environment(self) -> dict[str, str]:
        # Imported here: `neurmatic status` loads this module and must not load the templates' engine.
        from neurmatic.supervisor.archiving import repository_environment

        secrets = self.state.secrets
        return {
            **super().environment(),
            "PATRONI_SUPERUSER_USERNAME": SUPERUSER,
            "PATRONI_SUPERUSER_PASSWORD": secrets["POSTGRES_SUPERUSER_PASSWORD"],
            "PATRONI_REPLICATION_USERNAME": REPLICATION_USER,
            "PATRONI_REPLICATION_PASSWORD": secrets["REPLICATOR_PASSWORD"],
            "PATRONI_REWIND_USERNAME": SUPERUSER,
            "PATRONI_REWIND_PASSWORD": secrets["POSTGRES_SUPERUSER_PASSWORD"],
            "PATRONI_RESTAPI_USERNAME": "patroni",
            "PATRONI_RESTAPI_PASSWORD": secrets["PATRONI_RESTAPI_PASSWORD"],
            # archive_command runs pgBackRest as PostgreSQL's child: the repositories' secrets.
            **repository_environment(self.state),
        }

    def prepare(self) -> None:
        """Render the node's Patroni configuration (every start: a changed setting applies on restart)."""
        from neurmatic.render.patroni import PatroniNodeConfig, pg_hba_lines, render_patroni
        from neurmatic.render.postgres import Machine, scaled_settings
        from neurmatic.supervisor import archiving
        from neurmatic.supervisor.services.etcd import etcd_client_urls

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.config.parent.mkdir(parents=True, exist_ok=True)
        archiving.write_node_config(self.state)
        replica_restore, wal_restore = archiving.node_commands(self.state, self.index)
        node = PatroniNodeConfig(
            name=self.name,
            restapi_listen=f"{HOST}:{self.rest_port}",
            restapi_connect=f"{HOST}:{self.rest_port}",
            pg_listen=f"{HOST}:{self.port}",
            pg_connect=f"{HOST}:{self.port}",
            data_dir=str(self.data_dir),
            bin_dir=str(pg_binary("postgres").parent),
            pgpass=str(self.paths.run / f"pgpass-{self.index}"),
            etcd_hosts=etcd_client_urls(self.state),
            local_parameters={
                "unix_socket_directories": str(self.paths.run),
                "logging_collector": "off",  # PostgreSQL writes to Patroni's output: logs/postgres-N.log
                "log_line_prefix": "%m [%p] %q%u@%d ",
                **archiving.node_parameters(self.state, self.index),
            },
            replica_restore_command=replica_restore,
            restore_command=wal_restore,
        )
        hba = pg_hba_lines([f"{HOST}/32"], f"{HOST}/32", DATABASE_NAME, APP_DB_USER)
        text = render_patroni(node, settings=scaled_settings(Machine.this_one()), pg_hba=hba)
        write_private_file(self.config, text, self.state.account)
        self.state.account.own(self.data_dir.parent, self.config.parent)

    def member(self) -> Member | None:
        """This node as its own Patroni lists it (None when Patroni does not list it yet)."""
        return self.api.cluster().member(self.name)

    def probe(self) -> bool:
        """Patroni's ``/health``: 200 once its PostgreSQL runs (as primary or replica)."""
        return self.api.get("/health").status == 200

    def role(self) -> str:
        member = self.member()
        return "primary" if member is not None and member.is_leader else "standby"

    def status(self) -> ServiceStatus:
        """One ``/cluster`` request tells the role, Patroni's state, the timeline and the lag."""
        pid = self.running_pid()
        if pid is None:
            orphan = self.postmaster_pid()
            if orphan is not None:  # Patroni gone, its PostgreSQL not: unsupervised, maybe a second primary
                detail = (
                    f"Patroni is not running; its PostgreSQL (pid {orphan}) runs unsupervised: `neurmatic up`"
                )
                return ServiceStatus(self.name, "", self.host, self.port, orphan, "unhealthy", detail)
            return ServiceStatus(self.name, "", self.host, self.port, None, "stopped")
        try:
            member = self.member()
        except Exception:  # a Patroni that does not answer is not ready
            return ServiceStatus(
                self.name, "", self.host, self.port, pid, "unhealthy", "patroni does not answer"
            )
        if member is None:
            return ServiceStatus(
                self.name, "", self.host, self.port, pid, "starting", "not a cluster member yet"
            )
        role = "primary" if member.is_leader else "standby"
        detail = describe_member(member)
        if member.state in STUCK_STATES:
            detail += "; it does not come back by itself: `neurmatic standby rebuild`"
            return ServiceStatus(self.name, role, self.host, self.port, pid, "unhealthy", detail)
        # A node Patroni is rejoining (rewinding, cloning, restarting) is on its way, not broken.
        state = "ready" if member.state in RUNNING_STATES else "starting"
        return ServiceStatus(self.name, role, self.host, self.port, pid, state, detail)

    def postmaster_pid(self) -> int | None:
        """The live postmaster serving this node's data directory (Patroni's child, in its own session)."""
        import psutil

        with contextlib.suppress(OSError, ValueError, psutil.Error):
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE and str(self.data_dir) in process.cmdline():
                return pid
        return None

    def stop(self) -> None:
        """Patroni stops its PostgreSQL (fast shutdown) as it exits; a postmaster still there afterwards
        (Patroni was dead, or gave up waiting) is stopped the same way, so nothing outlives ``down``."""
        postmaster = self.postmaster_pid()
        super().stop()
        if postmaster is not None and self.postmaster_pid() == postmaster:
            terminate(postmaster, grace=self.stop_grace, sig=signal.SIGINT)

    def fence_orphans(self) -> str | None:
        """A PostgreSQL whose Patroni cannot be restarted gets an immediate shutdown: left running, a
        primary would keep taking connections after its leader key expired and the other node was
        promoted (Patroni's watchdog does the same by resetting the machine). The restarted Patroni
        starts it again in whatever role the cluster gives it."""
        pid = self.postmaster_pid()
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        return f"immediate shutdown of the orphaned postmaster {pid}"

    def log_files(self) -> list[Path]:
        return [self.paths.log(self.name)]


def create_roles_and_database(primary: PostgresNode) -> None:
    """The application's role and database on the leader; idempotent, so run on every bring-up."""
    endpoint = primary.endpoint
    ensure_role(endpoint, APP_DB_USER, primary.state.secrets["POSTGRES_PASSWORD"])
    ensure_database(endpoint, DATABASE_NAME, APP_DB_USER)
    # The health endpoint reads replication lag from pg_stat_replication: monitoring, not superuser.
    query(endpoint, f'GRANT pg_monitor TO "{APP_DB_USER}"')
    # The exporters' own account: pg_monitor's statistics views, no table of the application.
    ensure_role(endpoint, METRICS_USER, primary.state.secrets["METRICS_DB_PASSWORD"])
    query(endpoint, f'GRANT pg_monitor TO "{METRICS_USER}"')
