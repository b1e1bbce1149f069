"""The local topology as a platform: its state directory yields the same ``Deployment`` an env file does.

This is the one module through which the operations kit reaches the supervisor: everything else in
``neurmatic.ops`` acts on the ``Deployment`` it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.db.url import DatabaseUrl
from neurmatic.deployment.model import Deployment
from neurmatic.errors import TopologyNotRunningError
from neurmatic.private_files import read_env_file
from neurmatic.settings import Settings
from neurmatic.supervisor.drills_control import LocalDrills

if TYPE_CHECKING:
    from neurmatic.supervisor.archive_control import LocalArchive
from neurmatic.supervisor.layout import HOST, MONITORING_USER, SUPERUSER
from neurmatic.supervisor.releases_control import LocalReleases
from neurmatic.supervisor.services.postgres import PG_NODES
from neurmatic.supervisor.state import TopologyState


class LocalPlatform:
    """Process control of the topology in one state directory (``neurmatic up``)."""

    name = "local"

    def __init__(self, state: TopologyState) -> None:
        self.state = state

    def releases(self) -> LocalReleases:
        return LocalReleases(self.state)

    def drills(self) -> LocalDrills:
        return LocalDrills(self.state)

    def archive(self) -> LocalArchive:
        from neurmatic.supervisor.archive_control import LocalArchive

        return LocalArchive(self.state)


def local_deployment(state_dir: Path) -> Deployment:
    """The deployment of the topology in ``state_dir``; StateDirError when there is none."""
    state = TopologyState.load(state_dir)
    if not state.paths.app_env_file.exists():  # written by the first `up`
        raise TopologyNotRunningError(
            f"the topology in {state.paths.root} was never started", hint="`neurmatic up` first"
        )
    # The process environment first (AWS_*, BACKUP_DIR, SLACK_WEBHOOK_URL set by the operator or cron).
    settings = Settings.load(state.paths.app_env_file)
    app_url = DatabaseUrl.parse(read_env_file(state.paths.app_env_file)["DATABASE_URL"])
    hosts = tuple((HOST, state.ports.postgres(i)) for i in PG_NODES)
    admin = PgTarget(hosts, SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], "postgres")
    return Deployment(
        source=f"the local topology in {state.paths.root}",
        settings=settings,
        app=PgTarget.from_url(app_url),
        admin=admin,
        public_url=f"https://{HOST}:{state.ports.https}",
        api_instances=tuple(f"http://{HOST}:{state.ports.api(i)}" for i in range(1, state.api_instances + 1)),
        ca_file=state.paths.tls / "ca.pem",
        backup_dir=settings.backup.directory or state.paths.root / "backups",
        platform=LocalPlatform(state),
        redis_nodes=tuple((HOST, state.ports.redis(i)) for i in (1, 2)),
        patroni_urls=tuple(f"http://{HOST}:{state.ports.patroni(i)}" for i in PG_NODES),
        patroni_password=state.secrets["PATRONI_RESTAPI_PASSWORD"],
        # The credentials ride in the URLs' user part; the monitoring adapter takes them out of every
        # URL it shows.
        prometheus_url=f"http://{monitoring_login(state)}@{HOST}:{state.ports.prometheus}",
        alertmanager_url=f"http://{monitoring_login(state)}@{HOST}:{state.ports.alertmanager}",
    )


def monitoring_login(state: TopologyState) -> str:
    """``user:password`` (URL-quoted) of the topology's Prometheus and Alertmanager."""
    from urllib.parse import quote

    return f"{MONITORING_USER}:{quote(state.secrets['MONITORING_PASSWORD'], safe='')}"
