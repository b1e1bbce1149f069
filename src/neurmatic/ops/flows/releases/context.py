"""What deploys and rollbacks share before and around a switch: a release's migrations (run by the
release's own interpreter) and the pre-flight check that a rolling switch can start."""

from __future__ import annotations

from neurmatic.db.release_migrations import MigrationOutcome, migrate_release, release_migrations
from neurmatic.deployment.model import Deployment
from neurmatic.deployment.releases import DeployFailed, ReleaseControl
from neurmatic.errors import TopologyNotRunningError


def run_migrations(
    deployment: Deployment, releases: ReleaseControl, version: str | None, *, check: bool
) -> MigrationOutcome:
    """The migrations of ``version`` (None: the installed package), run by that release's interpreter."""
    url = deployment.database_url
    if version is None:
        return migrate_release(None, release_migrations(None), url, check=check)
    source = release_migrations(releases.release_source(version))
    return migrate_release(releases.release_python(version), source, url, check=check)


def preflight(releases: ReleaseControl, *, all_ready: bool = True) -> None:
    """The balancer runs, and enough API instances are ready to carry the traffic during a switch.

    A rollback passes ``all_ready=False``: it is often run precisely because instances are failing.
    """
    if not releases.balancer_running():
        raise TopologyNotRunningError(
            f"nginx of {releases.location} is not running", hint="`neurmatic up` first"
        )
    instances = releases.instances()
    if len(instances) < 2:
        raise DeployFailed(
            "a rolling switch needs at least two API instances", hint="`neurmatic scale api 2` first"
        )
    if not all_ready:
        return
    not_ready = [api.name for api in instances if not releases.is_ready(api.name)]
    if not_ready:
        raise DeployFailed(
            f"{', '.join(not_ready)} not ready: a deploy starts from a healthy topology",
            hint="see `neurmatic status`; `neurmatic up` restarts what is down",
        )
