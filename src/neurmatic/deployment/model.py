"""The deployment the operations kit acts on: what to reach, as whom, and where files go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurmatic.adapters.patroni import PatroniApi
from neurmatic.adapters.pg_target import PgTarget
from neurmatic.db.url import DatabaseUrl
from neurmatic.deployment.platform import Platform
from neurmatic.settings import Settings


@dataclass(frozen=True)
class Deployment:
    """A running Neurmatic, described.

    ``app`` is the application role on every PostgreSQL node (libpq finds the primary); ``admin`` a
    role that may dump, create and drop the database, on the same nodes. Redis is reached through
    ``settings.redis`` (its Sentinels when there are some). ``public_url`` is the load balancer,
    ``api_instances`` each instance's internal address; ``ca_file`` the CA of the load balancer's
    certificate when it is not a public one.
    """

    source: str  # for messages: "the local topology in …", "env file …", "the environment"
    settings: Settings
    app: PgTarget
    admin: PgTarget
    public_url: str
    api_instances: tuple[str, ...]
    ca_file: Path | None
    backup_dir: Path
    platform: Platform
    env_file: Path | None = None  # the file it was read from, when it was
    # Every Redis server, when known up front (the local topology); else found through the Sentinels.
    redis_nodes: tuple[tuple[str, int], ...] = ()
    # Each PostgreSQL node's Patroni REST API (``http://host:8008``) and the password of its POST requests.
    patroni_urls: tuple[str, ...] = ()
    patroni_password: str | None = None
    # The monitoring servers' HTTP APIs (``http://host:9090``, ``http://host:9093``), when known.
    prometheus_url: str | None = None
    alertmanager_url: str | None = None

    def patroni_apis(self, *, timeout: float = 3.0) -> list[PatroniApi]:
        return [PatroniApi(url, self.patroni_password, timeout=timeout) for url in self.patroni_urls]

    @property
    def database_url(self) -> DatabaseUrl:
        return DatabaseUrl.parse(self.settings.database.url.get_secret_value())
