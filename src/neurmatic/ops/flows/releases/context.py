"""What deploys, rollbacks and scaling need from a topology: its database targets, where backups go,
a release's migrations, and the pre-flight check that a rolling switch can start."""

from __future__ import annotations

import os
from pathlib import Path

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.db.release_migrations import MigrationOutcome, migrate_release, release_migrations
from neurmatic.db.url import DatabaseUrl
from neurmatic.errors import TopologyNotRunningError
from neurmatic.ops.flows.releases.errors import DeployFailed
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology


def app_url(state: TopologyState) -> DatabaseUrl:
    return DatabaseUrl.parse(read_env_file(state.paths.app_env_file)["DATABASE_URL"])


def pg_targets(state: TopologyState) -> tuple[PgTarget, PgTarget]:
    """(the application role, the administrator) on whichever node is the primary now."""
    hosts = tuple((HOST, state.ports.postgres(i)) for i in (1, 2))
    admin = PgTarget(hosts, SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], "postgres")
    return PgTarget.from_url(app_url(state)), admin


def backup_directory(state: TopologyState) -> Path:
    return Path(os.environ.get("BACKUP_DIR") or state.paths.root / "backups")


def run_migrations(state: TopologyState, version: str | None, *, check: bool) -> MigrationOutcome:
    """The migrations of ``version`` (None: the installed package), run by that release's interpreter."""
    if version is None:
        return migrate_release(None, release_migrations(None), app_url(state), check=check)
    src = state.paths.release_dir(version) / "src"
    return migrate_release(
        state.paths.release_python(version), release_migrations(src), app_url(state), check=check
    )


def preflight(state: TopologyState, *, all_ready: bool = True) -> Topology:
    """The topology runs, and enough API instances are ready to carry the traffic during a switch.

    A rollback passes ``all_ready=False``: it is often run precisely because instances are failing.
    """
    topology = Topology(state)
    if topology.nginx.running_pid() is None:
        raise TopologyNotRunningError(
            f"nginx of {state.paths.root} is not running", hint="`neurmatic up` first"
        )
    if len(topology.apis) < 2:
        raise DeployFailed(
            "a rolling switch needs at least two API instances", hint="`neurmatic scale api 2` first"
        )
    if not all_ready:
        return topology
    not_ready = [api.name for api in topology.apis if api.status().state != "ready"]
    if not_ready:
        raise DeployFailed(
            f"{', '.join(not_ready)} not ready: a deploy starts from a healthy topology",
            hint="see `neurmatic status`; `neurmatic up` restarts what is down",
        )
    return topology
