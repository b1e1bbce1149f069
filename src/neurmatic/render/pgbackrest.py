"""pgBackRest's configuration, for the local topology and for production, from
``templates/pgbackrest.conf.j2``; and the PostgreSQL settings that make a node archive through it.

One file per node: ``pg1-path`` is that node's data directory. The repositories are the same for every
node, so whichever node Patroni promotes archives into the same history.
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass

from neurmatic.errors import ConfigurationError
from neurmatic.render import render_template

STANZA = "neurmatic"
# A primary that wrote anything closes its WAL segment at least this often, so the archive (the RPO of
# a host lost with its disk) is never further behind. Each early close still writes a whole 16 MB
# segment, zero-filled (a few kB once compressed in the repository); an idle primary writes nothing and
# closes nothing. 60 s is production's default (PostgreSQL's docs: "a minute or so is usually
# reasonable"); the local topology closes every 3 s, so its server-loss drill can show an RPO under 5 s.
ARCHIVE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class S3Repository:
    """``repo2``: the S3 bucket (AWS's documented endpoint, or an S3-protocol server of our own)."""

    bucket: str
    endpoint: str  # a host name: s3.eu-west-1.amazonaws.com
    region: str
    retention_days: int
    path: str = "/pgbackrest"
    uri_style: str = "host"  # "path" for servers without virtual-host buckets
    port: int | None = None
    ca_file: str | None = None


def s3_repository(
    bucket: str, endpoint_url: str | None, region: str, retention_days: int, ca_file: str | None = None
) -> S3Repository:
    """``repo2`` from the settings the logical backups use (AWS_BACKUP_BUCKET, AWS_ENDPOINT_URL,
    AWS_REGION): AWS's documented endpoint and virtual-host buckets when no endpoint is named, else the
    named server with path-style buckets (S3-compatible servers). pgBackRest speaks only HTTPS to S3."""
    if not endpoint_url:
        return S3Repository(bucket, f"s3.{region}.amazonaws.com", region, retention_days)
    parts = urllib.parse.urlsplit(endpoint_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(
            f"pgBackRest reaches S3 over HTTPS only, and AWS_ENDPOINT_URL is {endpoint_url!r}",
            hint="serve the S3-compatible endpoint over TLS (https://host:port), its CA in AWS_CA_BUNDLE",
        )
    return S3Repository(
        bucket, parts.hostname, region, retention_days, uri_style="path", port=parts.port, ca_file=ca_file
    )


@dataclass(frozen=True)
class PgBackRestConfig:
    pg_path: str
    pg_port: int
    repo1_path: str
    spool_path: str
    log_path: str
    lock_path: str
    repo1_retention_days: int = 30
    repo2: S3Repository | None = None
    pg_socket_path: str | None = None
    process_max: int = 2
    archive_queue_max: str = "4GiB"


def render_pgbackrest(config: PgBackRestConfig) -> str:
    return render_template(
        "pgbackrest.conf.j2",
        stanza=STANZA,
        repo1_path=config.repo1_path,
        repo1_retention_days=config.repo1_retention_days,
        repo2=config.repo2,
        spool_path=config.spool_path,
        log_path=config.log_path,
        lock_path=config.lock_path,
        pg_path=config.pg_path,
        pg_port=config.pg_port,
        pg_socket_path=config.pg_socket_path,
        process_max=config.process_max,
        archive_queue_max=config.archive_queue_max,
    )


def archiving_parameters(
    pgbackrest: str, config_file: str, archive_timeout: int = ARCHIVE_TIMEOUT_SECONDS
) -> dict[str, str]:
    """The node's PostgreSQL settings for archiving through pgBackRest with ``config_file``.

    ``archive_mode=on`` archives on the primary only: after a failover the promoted node takes over, into
    the same repositories. ``restore_command`` lets a standby (or a recovery) fetch WAL the primary no
    longer holds."""
    return {
        "archive_mode": "on",
        "archive_timeout": str(archive_timeout),
        "archive_command": f"{_invocation(pgbackrest, config_file)} archive-push %p",
    }


def restore_command(pgbackrest: str, config_file: str) -> str:
    return f"{_invocation(pgbackrest, config_file)} archive-get %f %p"


def replica_restore_command(pgbackrest: str, config_file: str) -> str:
    """Patroni's ``create_replica_methods`` entry: a new or rebuilt standby restored from the repository
    (files that already match are kept: ``--delta``), then streaming from the leader."""
    return f"{_invocation(pgbackrest, config_file)} --type=standby restore"


def _invocation(pgbackrest: str, config_file: str) -> str:
    return f"{shlex.quote(pgbackrest)} --config={shlex.quote(config_file)} --stanza={STANZA}"
