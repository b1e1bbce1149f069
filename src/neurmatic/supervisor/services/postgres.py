"""PostgreSQL nodes: ``postgres-1`` starts as the primary, ``postgres-2`` as its streaming hot standby.

Roles are not fixed: after a failover the standby is the primary. A node is a standby exactly when its
data directory holds ``standby.signal``; the role shown is asked of the server (``pg_is_in_recovery``).

A node that lost its primary role in a failover is *fenced*: ``neurmatic.fenced`` in its data directory
(why, when, who took over). A fenced node never starts as a primary again (``start`` refuses, ``up``
skips it), since its WAL may have diverged from the new primary's; ``neurmatic standby rebuild`` makes it
a standby and removes the marker once it streams.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurmatic.adapters.commands import run
from neurmatic.adapters.postgres import (
    PgEndpoint,
    ensure_database,
    ensure_role,
    pg_binary,
    query,
)
from neurmatic.adapters.probes import psql_scalar
from neurmatic.errors import TopologyError
from neurmatic.private_files import write_private_file
from neurmatic.supervisor.layout import APP_DB_USER, DATABASE_NAME, HOST, REPLICATION_USER, SUPERUSER
from neurmatic.supervisor.service import Service, ServiceStatus
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:
    import psycopg


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


def slot_name(index: int) -> str:
    return f"postgres_{index}"


FENCE_MARKER = "neurmatic.fenced"
STANDBY_SETTINGS = ("primary_conninfo", "primary_slot_name")


class NodeFenced(TopologyError):
    """A fenced node (the old primary of a failover) was asked to start as a primary."""


class PostgresNode(Service):
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, checkpoint, exit
    stop_grace = 30.0
    ready_timeout = 120.0

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"postgres-{index}"
        super().__init__(state)
        self.data_dir = self.paths.postgres_data(index)

    @property
    def port(self) -> int:
        return self.state.ports.postgres(self.index)

    @property
    def endpoint(self) -> PgEndpoint:
        return superuser_endpoint(self.state, self.index)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def is_standby_node(self) -> bool:
        return (self.data_dir / "standby.signal").exists()

    @property
    def fence_file(self) -> Path:
        return self.data_dir / FENCE_MARKER

    @property
    def is_fenced(self) -> bool:
        return self.fence_file.exists()

    def fence_reason(self) -> str:
        """The marker's story in one line (for errors and ``status``)."""
        try:
            info = json.loads(self.fence_file.read_text())
            return f"fenced by {info.get('by', '?')} at {info.get('at', '?')}: {info.get('reason', '?')}"
        except (OSError, ValueError):
            return "fenced (unreadable marker)"

    def fence(self, reason: str, *, successor: str, by: str) -> None:
        """Write the fence marker (before the node is stopped, so nothing can restart it in between)."""
        info = {"reason": reason, "successor": successor, "by": by, "at": datetime.now(UTC).isoformat()}
        write_private_file(self.fence_file, json.dumps(info, indent=2) + "\n", self.state.account)

    def unfence(self) -> None:
        self.fence_file.unlink(missing_ok=True)

    def start(self) -> int:
        """Refuse a fenced node unless it is a standby now (a standby cannot take writes)."""
        if self.is_fenced and not self.is_standby_node:
            raise NodeFenced(
                f"{self.name} is fenced and must not start as a primary ({self.fence_reason()})",
                hint=f"run `neurmatic standby rebuild` to make {self.name} a standby of the new primary",
            )
        return super().start()

    def status(self) -> ServiceStatus:
        """One query tells both readiness and role (the base class would ask twice)."""
        pid = self.running_pid()
        if pid is None:
            role = "fenced" if self.is_fenced else ""  # the role it must keep until rebuilt
            return ServiceStatus(self.name, role, self.host, self.port, None, "stopped")
        try:
            role, state = self.role(), "ready"
        except Exception:  # a node that does not answer is not ready
            role, state = "", "unhealthy"
        return ServiceStatus(self.name, role, self.host, self.port, pid, state)

    def command(self) -> list[str]:
        return [str(pg_binary("postgres")), "-D", str(self.data_dir), "-p", str(self.port)]

    def in_recovery(self, timeout: float = 2.0) -> bool:
        """``pg_is_in_recovery()`` of the node, asked with ``psql`` (psycopg costs more to import than the
        query takes: `status` and the readiness waits need no more)."""
        password = self.state.secrets["POSTGRES_SUPERUSER_PASSWORD"]
        query = "SELECT pg_is_in_recovery()"
        return psql_scalar(self._psql(), HOST, self.port, SUPERUSER, password, query, timeout=timeout) == "t"

    def _psql(self) -> Path:
        """The ``psql`` beside the running server's own binary (no ``pg_config`` to run), else the
        installed one's."""
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                sibling = Path(f"/proc/{pid}/exe").readlink().with_name("psql")
                if sibling.is_file():
                    return sibling
        return pg_binary("psql")

    def probe(self) -> bool:
        self.in_recovery()
        return True

    def role(self) -> str:
        return "standby" if self.in_recovery() else "primary"

    def render_config(self) -> None:
        """Write the settings include and pg_hba.conf (both are copied to a standby by pg_basebackup)."""
        from neurmatic.render import render_template
        from neurmatic.render.postgres import Machine, scaled_settings

        settings = render_template(
            "postgresql.conf.j2",
            settings=scaled_settings(Machine.this_one()),
            local=True,
            listen_addresses=HOST,
            socket_dir=str(self.paths.run),
        )
        (self.data_dir / "neurmatic.conf").write_text(settings)
        main_conf = self.data_dir / "postgresql.conf"
        if "include 'neurmatic.conf'" not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write("\ninclude 'neurmatic.conf'\n")
        (self.data_dir / "pg_hba.conf").write_text(
            render_template(
                "pg_hba.conf.j2",
                networks=[f"{HOST}/32"],
                admin_network=f"{HOST}/32",
                database=DATABASE_NAME,
                app_user=APP_DB_USER,
            )
        )
        self.state.account.own(self.data_dir)


class PrimaryBootstrap:
    """First start of the cluster: initdb, then roles and the database once the server answers."""

    def __init__(self, node: PostgresNode) -> None:
        self.node = node
        self.state = node.state

    def initdb(self) -> None:
        data = self.node.data_dir
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        pwfile = self.state.paths.run / "initdb.pw"
        write_private_file(
            pwfile, self.state.secrets["POSTGRES_SUPERUSER_PASSWORD"] + "\n", self.state.account
        )
        self.state.account.own(data)
        try:
            run(
                [
                    pg_binary("initdb"),
                    "-D",
                    data,
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    pwfile,
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--data-checksums",
                ],
                user=self.state.account.name,
                timeout=180,
                cwd=self.state.paths.root,
            )
        except Exception:
            shutil.rmtree(data, ignore_errors=True)  # a fresh, failed cluster: nothing to keep; retry cleanly
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        self.node.render_config()

    def create_roles_and_database(self) -> None:
        endpoint = self.node.endpoint
        ensure_role(endpoint, APP_DB_USER, self.state.secrets["POSTGRES_PASSWORD"])
        ensure_role(endpoint, REPLICATION_USER, self.state.secrets["REPLICATOR_PASSWORD"], replication=True)
        ensure_database(endpoint, DATABASE_NAME, APP_DB_USER)
        # The health endpoint reads replication lag from pg_stat_replication: monitoring, not superuser.
        query(endpoint, f'GRANT pg_monitor TO "{APP_DB_USER}"')


def write_pgpass(state: TopologyState) -> Path:
    """The replication password in a libpq password file, so primary_conninfo carries no secret."""
    lines = [
        f"{HOST}:{state.ports.postgres(i)}:*:{REPLICATION_USER}:{state.secrets['REPLICATOR_PASSWORD']}"
        for i in (1, 2)
    ]
    write_private_file(state.paths.pgpass_file, "\n".join(lines) + "\n", state.account)
    return state.paths.pgpass_file


def write_standby_settings(
    data_dir: Path, state: TopologyState, standby_index: int, primary_port: int
) -> None:
    """Make the (stopped) node in ``data_dir`` a standby of the primary on ``primary_port``.

    ``primary_conninfo`` names the pgpass file, never the password; earlier standby settings (a node that
    was a standby before, or settings pg_rewind copied from the new primary) are replaced, not appended.
    """
    pgpass = write_pgpass(state)
    slot = slot_name(standby_index)
    conninfo = (
        f"host={HOST} port={primary_port} user={REPLICATION_USER} passfile={pgpass} application_name={slot}"
    )
    auto_conf = data_dir / "postgresql.auto.conf"
    kept = [
        line
        for line in (auto_conf.read_text().splitlines() if auto_conf.exists() else [])
        if line.split("=", 1)[0].strip() not in STANDBY_SETTINGS
    ]
    kept += [f"primary_conninfo = '{conninfo}'", f"primary_slot_name = '{slot}'"]
    auto_conf.write_text("\n".join(kept) + "\n")
    (data_dir / "standby.signal").touch()
    state.account.own(auto_conf, data_dir / "standby.signal")


def clone_standby(standby: PostgresNode, primary: PostgresNode, *, replace_existing: bool = False) -> None:
    """Make ``standby`` a hot standby of ``primary``: pg_basebackup through a replication slot.

    ``replace_existing`` (``standby rebuild`` when pg_rewind cannot help) swaps a stopped node's old data
    directory for the clone only once the clone is complete; a fence marker is carried over, so the node
    stays fenced until it is seen streaming.
    """
    state = standby.state
    if not replace_existing and standby.data_dir.exists() and any(standby.data_dir.iterdir()):
        raise TopologyError(f"{standby.data_dir} is not empty; refusing to overwrite it with a base backup")
    if replace_existing and standby.running_pid() is not None:
        raise TopologyError(f"{standby.name} is running; stop it before replacing its data directory")
    # Clone into a side directory and rename it into place only when complete: a half-copied data
    # directory must never be mistaken for a node (without standby.signal it would start as a primary).
    partial = standby.data_dir.with_name(standby.data_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    state.account.own(partial)
    pgpass = write_pgpass(state)
    slot = slot_name(standby.index)
    existing = query(primary.endpoint, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    if not existing:
        query(primary.endpoint, "SELECT pg_create_physical_replication_slot(%s)", (slot,))
    run(
        [
            pg_binary("pg_basebackup"),
            "-h",
            HOST,
            "-p",
            str(primary.port),
            "-U",
            REPLICATION_USER,
            "-D",
            partial,
            "-X",
            "stream",
            "-S",
            slot,
            "--checkpoint=fast",
            "--no-password",
        ],
        env={"PGPASSFILE": str(pgpass)},
        user=state.account.name,
        timeout=600,
        cwd=state.paths.root,
    )
    write_standby_settings(partial, state, standby.index, primary.port)
    if standby.is_fenced:
        shutil.copy2(standby.fence_file, partial / FENCE_MARKER)
    state.account.own(partial)
    old = standby.data_dir.with_name(standby.data_dir.name + ".old")
    if standby.data_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        standby.data_dir.rename(old)  # empty (checked above) unless replace_existing
    partial.rename(standby.data_dir)
    shutil.rmtree(old, ignore_errors=True)
