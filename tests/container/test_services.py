"""The image's entry points against real servers: PostgreSQL (primary + standby), Redis and three
Sentinels started by the test on loopback ports (tests/standalone_servers.py), the operators' env file
that `neurmatic secrets generate` writes pointed at them, and the containers on the host's network as a
production host would run them: `migrate` builds the schema, `api` answers /health/ready (PostgreSQL and
Redis through Sentinel reached), `backup` writes a verified dump into the mounted backup volume and
its copy to S3 (moto on loopback)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurmatic.polling import poll
from tests.container.conftest import MEASURED
from tests.container.podman import Podman
from tests.mailbox import free_port
from tests.standalone_servers import HOST, env_file_deployment
from tests.support import make_state_parent

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]
APP_UID = 10001
ENV_IN_CONTAINER = "/run/neurmatic/env.production"
BUCKET = "neurmatic-container-backups"


@dataclass
class Deployment:
    env_file: Path
    backups: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    parent = make_state_parent(tmp_path_factory, "container")
    # The backup's off-site copy goes to an S3 endpoint on loopback (moto).
    with env_file_deployment(parent, BUCKET, {}) as deployment:
        # Read by the container's uid: the throwaway secrets of throwaway servers.
        deployment.env_file.chmod(0o644)
        backups = parent / "backups"
        backups.mkdir()
        shutil.chown(backups, APP_UID, APP_UID)
        yield Deployment(deployment.env_file, backups)


def run_in_image(podman: Podman, image: str, deployment: Deployment, *argv: str) -> str:
    """A one-off container of the image on the host's network with the env file, as `compose run`."""
    return podman.run(
        "run", "--rm", "--no-healthcheck", "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--volume", f"{deployment.env_file}:{ENV_IN_CONTAINER}:ro",
        "--volume", f"{deployment.backups}:/var/backups/neurmatic",
        image, *argv, "--env-file", ENV_IN_CONTAINER, timeout=300,
    ).stdout  # fmt: skip


def test_migrate_then_the_api_is_ready_and_a_backup_lands_in_the_volume(
    podman: Podman, image: str, deployment: Deployment
) -> None:
    migrated = json.loads(run_in_image(podman, image, deployment, "migrate", "--json"))
    assert migrated["from_revision"] is None, migrated  # an empty database, to head
    assert migrated["to_revision"], migrated
    again = json.loads(run_in_image(podman, image, deployment, "migrate", "--json"))
    assert again["from_revision"] == again["to_revision"] == migrated["to_revision"], again

    port = free_port()
    name = f"neurmatic-ready-{port}"
    started = time.monotonic()
    podman.run(
        "run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--volume", f"{deployment.env_file}:{ENV_IN_CONTAINER}:ro",
        image, "api", "--env-file", ENV_IN_CONTAINER, "--host", HOST, "--port", str(port),
    )  # fmt: skip
    try:
        url = f"http://{HOST}:{port}/api/v1/health/ready"
        polled = poll(lambda: urllib.request.urlopen(url, timeout=2).status == 200, timeout=90, interval=0.3)
        assert polled.done, f"{url}: {polled.why}\n{podman.run('logs', name).stderr[-3000:]}"
        MEASURED["container start to /health/ready 200 (PostgreSQL, Sentinel)"] = (
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        podman.run("rm", "--force", name, check=False)

    made = json.loads(run_in_image(podman, image, deployment, "backup", "--verify", "--json"))
    assert made["verified"] is True, made
    assert made["s3"] and made["s3"].startswith(f"s3://{BUCKET}/"), made
    in_volume = Path(made["path"]).relative_to("/var/backups/neurmatic")
    on_host = deployment.backups / in_volume
    assert on_host.is_file(), made
    assert on_host.stat().st_uid == APP_UID
    assert made["tables"]["public.users"] == 0, made  # the migrated schema's tables, counted
