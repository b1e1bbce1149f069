"""The local topology's WAL archive and physical backups: pgBackRest, with repository 1 on this disk
and, when a backup bucket is configured, repository 2 in S3.

Each PostgreSQL node has its own pgBackRest configuration (its data directory is ``pg1-path``) and
archives through it while it is the primary; the repositories are shared, so the history goes on across
a failover. On bring-up the stanza is created and, while a repository holds no backup yet, a first full
backup is taken into it: point-in-time recovery (and a standby restored from the repository) start from
one.

The S3 repository is recorded at ``up`` from the environment the logical backups use (AWS_BACKUP_BUCKET,
AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE) into
``pgbackrest/repo2.env`` (mode 0600), so that a Patroni the watcher restarts, and every later command,
archives to the same place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from neurmatic.adapters.pgbackrest import PgBackRest
from neurmatic.private_files import read_env_file, write_private_file
from neurmatic.render.pgbackrest import (
    STANZA,
    PgBackRestConfig,
    S3Repository,
    archiving_parameters,
    render_pgbackrest,
    replica_restore_command,
    restore_command,
    s3_repository,
)
from neurmatic.supervisor.state import CIPHER_SECRET, TopologyState

Progress = Callable[[str], None]
SYSTEM_ID_SQL = "SELECT system_identifier FROM pg_control_system()"
S3_RETENTION_DAYS = 90  # the guide: 90 days in S3 (BACKUP_S3_RETENTION_DAYS)
LOCAL_ARCHIVE_TIMEOUT_SECONDS = 3  # see render/pgbackrest.py: the server-loss drill's RPO under 5 s


def record_s3_repository(state: TopologyState, environ: Mapping[str, str]) -> None:
    """Record repository 2 when the environment names a backup bucket (a bucket named again replaces
    the record; none named keeps it)."""
    bucket = environ.get("AWS_BACKUP_BUCKET") or environ.get("S3_BUCKET")
    if not bucket:
        return
    repo = s3_repository(
        bucket,
        environ.get("AWS_ENDPOINT_URL") or environ.get("AWS_S3_ENDPOINT"),
        environ.get("AWS_REGION", "eu-west-1"),
        int(environ.get("BACKUP_S3_RETENTION_DAYS", S3_RETENTION_DAYS)),
        environ.get("AWS_CA_BUNDLE"),
    )
    record = {
        "BUCKET": repo.bucket,
        "ENDPOINT": repo.endpoint,
        "REGION": repo.region,
        "URI_STYLE": repo.uri_style,
        "PORT": str(repo.port or ""),
        "CA_FILE": repo.ca_file or "",
        "RETENTION_DAYS": str(repo.retention_days),
        "S3_KEY": environ.get("AWS_ACCESS_KEY_ID", ""),
        "S3_KEY_SECRET": environ.get("AWS_SECRET_ACCESS_KEY", ""),
    }
    state.paths.pgbackrest.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in record.items())
    write_private_file(state.paths.pgbackrest / "repo2.env", text, state.account)


def _s3_record(state: TopologyState) -> dict[str, str] | None:
    path = state.paths.pgbackrest / "repo2.env"
    return read_env_file(path) if path.exists() else None


def s3_repository_of(state: TopologyState) -> S3Repository | None:
    record = _s3_record(state)
    if record is None:
        return None
    return S3Repository(
        bucket=record["BUCKET"],
        endpoint=record["ENDPOINT"],
        region=record["REGION"],
        retention_days=int(record["RETENTION_DAYS"]),
        uri_style=record["URI_STYLE"],
        port=int(record["PORT"]) if record.get("PORT") else None,
        ca_file=record.get("CA_FILE") or None,
    )


def node_config(state: TopologyState, index: int) -> PgBackRestConfig:
    paths = state.paths
    return PgBackRestConfig(
        pg_path=str(paths.postgres_data(index)),
        pg_port=state.ports.postgres(index),
        pg_socket_path=str(paths.run),
        repo1_path=str(paths.pgbackrest_repo),
        repo2=s3_repository_of(state),
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


def repository_environment(state: TopologyState) -> dict[str, str]:
    """The repositories' secrets, as pgBackRest reads them from its environment (never in its
    configuration file): the passphrase (the same for both), the S3 credentials."""
    env = {"PGBACKREST_REPO1_CIPHER_PASS": state.secrets[CIPHER_SECRET]}
    record = _s3_record(state)
    if record is not None:
        env["PGBACKREST_REPO2_CIPHER_PASS"] = state.secrets[CIPHER_SECRET]
        env["PGBACKREST_REPO2_S3_KEY"] = record.get("S3_KEY", "")
        env["PGBACKREST_REPO2_S3_KEY_SECRET"] = record.get("S3_KEY_SECRET", "")
    return env


def environment(state: TopologyState) -> dict[str, str]:
    """What pgBackRest commands run by us need: the repositories' secrets, and the superuser's
    password for the commands that connect (libpq reads PGPASSWORD)."""
    return {
        **repository_environment(state),
        "PGPASSWORD": state.secrets["POSTGRES_SUPERUSER_PASSWORD"],
    }


def pgbackrest_binary() -> str:
    from neurmatic.adapters.commands import require_binary

    return str(require_binary("pgbackrest", package="pgbackrest"))


def node_parameters(state: TopologyState, index: int) -> dict[str, str]:
    """The node's archiving settings (PostgreSQL's)."""
    config = str(state.paths.pgbackrest_config(index))
    return archiving_parameters(pgbackrest_binary(), config, LOCAL_ARCHIVE_TIMEOUT_SECONDS)


def foreign_marker(state: TopologyState) -> Path:
    """Present while the repositories hold another cluster's backups (a host rebuilt after its loss,
    before its data is restored from them): a standby must then be cloned from the leader, not restored
    from the repository (it would be that other cluster)."""
    return state.paths.pgbackrest / "foreign-repository"


def node_commands(state: TopologyState, index: int) -> tuple[str | None, str]:
    """(how a standby is restored from the repository, how WAL is fetched from it) for Patroni."""
    binary, config = pgbackrest_binary(), str(state.paths.pgbackrest_config(index))
    replica = None if foreign_marker(state).exists() else replica_restore_command(binary, config)
    return replica, restore_command(binary, config)


def pgbackrest(state: TopologyState, index: int) -> PgBackRest:
    """pgBackRest as node ``index`` sees it, run as the servers' account."""
    return PgBackRest(
        state.paths.pgbackrest_config(index),
        STANZA,
        env=environment(state),
        user=state.account.name,
        repos=(1, 2) if _s3_record(state) is not None else (1,),
    )


def prepare_repository(state: TopologyState, leader_index: int, progress: Progress) -> datetime | None:
    """Create the stanza where a repository lacks it; take a first full backup into each repository
    that has none; when the newest backup of the repositories was consistent (None: there is none). A
    repository that belongs to another cluster (a host rebuilt after its loss, its data still to be
    restored from it) is left alone and said so: `neurmatic restore --to-latest`.

    (``stanza-create`` is idempotent but takes the archive's lock, which the running archiver may hold:
    asking ``info`` first takes none.)"""
    tool = pgbackrest(state, leader_index)
    from neurmatic.adapters.postgres import query
    from neurmatic.supervisor.services.postgres import superuser_endpoint

    own = int(query(superuser_endpoint(state, leader_index), SYSTEM_ID_SQL)[0][0])
    # Asked of each repository before anything is created in any: stanza-create would create the
    # stanza of this (new, empty) cluster in a repository that lacks it and then refuse the other.
    foreign = [repo for repo in tool.repos if tool.info(repo=repo).system_id not in (None, own)]
    if foreign:
        foreign_marker(state).touch()
        progress(
            f"pgbackrest: repo{foreign[0]} holds another cluster's backups (this host was rebuilt?); "
            "restore from it with `neurmatic restore --to-latest`"
        )
        return None
    foreign_marker(state).unlink(missing_ok=True)
    info = tool.info()
    if any(status != "ok" and "no valid backups" not in status for status in info.repo_status.values()) or (
        set(tool.repos) - set(info.repo_status)
    ):
        tool.stanza_create()
        info = tool.info()
    missing = [repo for repo in tool.repos if not any(backup.repo == repo for backup in info.backups)]
    for repo in missing:
        tool.backup("full", repo=repo)
        progress(f"pgbackrest: first full backup taken into repo{repo}")
    backups = tool.info().backups if missing else info.backups
    return max((backup.stopped for backup in backups), default=None)


def record_from_environment(state: TopologyState) -> None:
    """``up``'s part: the S3 repository from this process's environment (see the module's docstring)."""
    record_s3_repository(state, os.environ)
