"""PostgreSQL nodes: ``postgres-1`` starts as the primary, ``postgres-2`` as its streaming hot standby.

Roles are not fixed: after a failover the standby is the primary. A node is a standby exactly when its
data directory holds ``standby.signal``; the role shown is asked of the server (``pg_is_in_recovery``).
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Any

import psycopg

from neurmatic.adapters.commands import run
from neurmatic.adapters.postgres import (
    PgEndpoint,
    ensure_database,
    ensure_role,
    is_in_recovery,
    pg_binary,
    query,
)
from neurmatic.errors import TopologyError
from neurmatic.render import render_template
from neurmatic.render.postgres import Machine, scaled_settings
from neurmatic.supervisor.layout import APP_DB_USER, DATABASE_NAME, HOST, REPLICATION_USER, SUPERUSER
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState, write_private_file


def superuser_endpoint(state: TopologyState, index: int, dbname: str = "postgres") -> PgEndpoint:
    return PgEndpoint(
        HOST, state.ports.postgres(index), SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], dbname
    )


def app_connection(state: TopologyState, index: int) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to node ``index`` as the application role (benchmarks, tests, drills)."""
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

    def command(self) -> list[str]:
        return [str(pg_binary("postgres")), "-D", str(self.data_dir), "-p", str(self.port)]

    def probe(self) -> bool:
        is_in_recovery(self.endpoint, timeout=2)
        return True

    def role(self) -> str:
        return "standby" if is_in_recovery(self.endpoint) else "primary"

    def render_config(self) -> None:
        """Write the settings include and pg_hba.conf (both are copied to a standby by pg_basebackup)."""
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


def clone_standby(standby: PostgresNode, primary: PostgresNode) -> None:
    """Make ``standby`` a hot standby of ``primary``: pg_basebackup through a replication slot."""
    state = standby.state
    if standby.data_dir.exists() and any(standby.data_dir.iterdir()):
        raise TopologyError(f"{standby.data_dir} is not empty; refusing to overwrite it with a base backup")
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
    conninfo = (
        f"host={HOST} port={primary.port} user={REPLICATION_USER} passfile={pgpass} application_name={slot}"
    )
    with (partial / "postgresql.auto.conf").open("a") as handle:
        handle.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{slot}'\n")
    (partial / "standby.signal").touch()
    state.account.own(partial)
    if standby.data_dir.exists():
        standby.data_dir.rmdir()  # empty, checked above
    partial.rename(standby.data_dir)
