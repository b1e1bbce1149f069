"""A deployment described by the operators' env file (``.env.production``) or the process environment.

The names are the guide's (``DATABASE_URL`` with every PostgreSQL node, ``REDIS_SENTINELS``,
``AWS_BACKUP_BUCKET``, ``SLACK_WEBHOOK_URL``, …) plus the few the operations kit adds
(``DATABASE_ADMIN_URL``, ``NEURMATIC_API_INSTANCES``, ``NEURMATIC_CA_FILE``, ``BACKUP_DIR``,
``NEURMATIC_PROMETHEUS_URL``, ``NEURMATIC_ALERTMANAGER_URL``); the process
environment takes precedence over the file, as everywhere in Neurmatic.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.db.url import DatabaseUrl
from neurmatic.deployment.model import Deployment
from neurmatic.deployment.platform import NoPlatform
from neurmatic.errors import ConfigurationError
from neurmatic.private_files import read_env_file
from neurmatic.settings import Settings

DEFAULT_BACKUP_DIR = Path("/var/backups/neurmatic")  # the guide's BACKUP_DIR


def from_env_file(path: Path | None) -> Deployment:
    """The deployment ``path`` describes (None: the process environment alone)."""
    if path is not None and not path.is_file():
        raise ConfigurationError(
            f"no env file at {path}",
            hint="pass the operators' env file (`--env-file .env.production`); "
            "`neurmatic secrets generate` writes one",
        )
    if path is None and not os.environ.get("DATABASE_URL"):
        raise ConfigurationError(
            "no deployment to act on: no --env-file, no DATABASE_URL in the environment, "
            "and no local topology",
            hint="pass `--env-file .env.production` (or set NEURMATIC_ENV_FILE), "
            "or `--state-dir` of a topology `neurmatic up` started",
        )
    source = f"env file {path}" if path is not None else "the environment"
    if path is not None:
        _check_database_variables(path)
    settings = Settings.load(path)
    app_url = DatabaseUrl.parse(settings.database.url.get_secret_value())
    admin_secret = settings.operations.admin_database_url
    admin_url = (
        DatabaseUrl.parse(admin_secret.get_secret_value(), variable="DATABASE_ADMIN_URL")
        if admin_secret is not None
        else app_url
    )
    app = PgTarget.from_url(app_url)
    # The administrator connects to a maintenance database: the application's may be the one restored.
    admin = PgTarget.from_url(admin_url).with_db("postgres")
    return Deployment(
        source=source,
        settings=settings,
        app=app,
        admin=admin,
        public_url=settings.app.api_url.rstrip("/"),
        api_instances=tuple(url.rstrip("/") for url in settings.operations.api_instances),
        ca_file=settings.operations.ca_file,
        patroni_urls=tuple(url.rstrip("/") for url in settings.operations.patroni_urls),
        patroni_password=(
            settings.operations.patroni_password.get_secret_value()
            if settings.operations.patroni_password
            else None
        ),
        backup_dir=settings.backup.directory or DEFAULT_BACKUP_DIR,
        prometheus_url=_url_or_none(settings.operations.prometheus_url),
        alertmanager_url=_url_or_none(settings.operations.alertmanager_url),
        platform=NoPlatform(source),
        env_file=path.resolve() if path is not None else None,
    )


def _url_or_none(url: str | None) -> str | None:
    return url.rstrip("/") if url else None


def _check_database_variables(path: Path) -> None:
    """The file names the database, and the shell does not silently name another one.

    Settings take the environment first; for the database a command is about to dump, restore or
    migrate, a stray ``DATABASE_URL`` exported in the operator's shell would point it at one database
    and its administrator at another. Refused instead of guessed.
    """
    try:
        values = read_env_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the env file {path}: {exc}", hint="it must be readable UTF-8 KEY=value lines"
        ) from exc
    if not values.get("DATABASE_URL") and not os.environ.get("DATABASE_URL"):
        raise ConfigurationError(
            f"{path} sets no DATABASE_URL: there is no database to act on",
            hint="set DATABASE_URL=postgresql://user:password@host:5432/database (every node, "
            "comma-separated, for failover)",
        )
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL"):
        exported = os.environ.get(name)
        if exported and values.get(name) and exported != values[name]:
            raise ConfigurationError(
                f"{name} in the environment differs from the one in {path}",
                hint=f"unset {name} in this shell (or remove it from the file) so one deployment is named",
            )
