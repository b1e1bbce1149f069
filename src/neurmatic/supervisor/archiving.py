"""The local topology's WAL archive and physical backups: pgBackRest with a repository on this disk.

Each PostgreSQL node has its own pgBackRest configuration (its data directory is ``pg1-path``) and
archives through it while it is the primary; the repository is shared, so the history goes on across a
failover. On bring-up the stanza is created and, while the repository holds no backup yet, a first full
backup is taken: point-in-time recovery (and a standby restored from the repository) start from one.
"""

from __future__ import annotations

from collections.abc import Callable

from neurmatic.adapters.pgbackrest import PgBackRest
from neurmatic.private_files import write_private_file
from neurmatic.render.pgbackrest import (
    STANZA,
    PgBackRestConfig,
    archiving_parameters,
    render_pgbackrest,
    replica_restore_command,
    restore_command,
)
from neurmatic.supervisor.state import CIPHER_SECRET, TopologyState

Progress = Callable[[str], None]


def node_config(state: TopologyState, index: int) -> PgBackRestConfig:
    paths = state.paths
    return PgBackRestConfig(
        pg_path=str(paths.postgres_data(index)),
        pg_port=state.ports.postgres(index),
        pg_socket_path=str(paths.run),
        repo1_path=str(paths.pgbackrest_repo),
        spool_path=str(paths.pgbackrest / "spool" / f"postgres-{index}"),  # each node's own queue
        log_path=str(paths.pgbackrest / "log"),
        lock_path=str(paths.pgbackrest / "lock"),
    )


def write_node_config(state: TopologyState) -> None:
    """Every node's configuration and pgBackRest's directories, owned by the servers' account."""
    paths = state.paths
    for sub in ("repo", "spool", "log", "lock"):
        (paths.pgbackrest / sub).mkdir(parents=True, exist_ok=True)
    paths.pgbackrest.chmod(0o750)
    from neurmatic.supervisor.services.postgres import PG_NODES

    for index in PG_NODES:
        write_private_file(paths.pgbackrest_config(index), render_pgbackrest(node_config(state, index)))
    state.account.own(paths.pgbackrest)


def environment(state: TopologyState) -> dict[str, str]:
    """What pgBackRest needs besides its configuration: the repository passphrase, and the superuser's
    password for the commands that connect (libpq reads PGPASSWORD)."""
    return {
        "PGBACKREST_REPO1_CIPHER_PASS": state.secrets[CIPHER_SECRET],
        "PGPASSWORD": state.secrets["POSTGRES_SUPERUSER_PASSWORD"],
    }


def pgbackrest_binary() -> str:
    from neurmatic.adapters.commands import require_binary

    return str(require_binary("pgbackrest", package="pgbackrest"))


def node_parameters(state: TopologyState, index: int) -> dict[str, str]:
    """The node's archiving settings (PostgreSQL's)."""
    return archiving_parameters(pgbackrest_binary(), str(state.paths.pgbackrest_config(index)))


def node_commands(state: TopologyState, index: int) -> tuple[str, str]:
    """(how a standby is restored from the repository, how WAL is fetched from it) for Patroni."""
    binary, config = pgbackrest_binary(), str(state.paths.pgbackrest_config(index))
    return replica_restore_command(binary, config), restore_command(binary, config)


def pgbackrest(state: TopologyState, index: int) -> PgBackRest:
    """pgBackRest as node ``index`` sees it, run as the servers' account."""
    return PgBackRest(
        state.paths.pgbackrest_config(index), STANZA, env=environment(state), user=state.account.name
    )


def prepare_repository(state: TopologyState, leader_index: int, progress: Progress) -> None:
    """Create the stanza when the repository lacks it; take a first full backup while it has none.

    (``stanza-create`` is idempotent but takes the archive's lock, which the running archiver may hold:
    asking ``info`` first takes none.)"""
    tool = pgbackrest(state, leader_index)
    info = tool.info()
    if info.status.startswith("missing stanza"):
        tool.stanza_create()
        info = tool.info()
    if not info.backups:
        tool.backup("full")
        progress("pgbackrest: stanza created, first full backup taken")
