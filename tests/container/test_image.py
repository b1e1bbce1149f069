"""The image as the platforms run it: its commands, its user and labels, nothing of the build left in
it, and `neurmatic api` in a read-only container answering the liveness path through a published
loopback port, with tini as PID 1 passing SIGTERM on."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from neurmatic.polling import poll
from tests.container.conftest import MEASURED, VERSION
from tests.container.podman import Podman
from tests.mailbox import free_port

# The first test's setup bootstraps the base and builds the image: minutes, beyond the default timeout.
pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]


def shell(podman: Podman, image: str, script: str) -> str:
    return podman.run("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


def test_the_entry_point_is_the_neurmatic_command(podman: Podman, image: str) -> None:
    out = podman.run("run", "--rm", image, "--help").stdout
    for command in ("api", "worker", "migrate", "backup"):
        assert f"\n  {command} " in out, command
    assert "--host" in podman.run("run", "--rm", image, "api", "--help").stdout


def test_it_runs_as_uid_10001_with_the_ops_kits_programs(podman: Podman, image: str) -> None:
    out = shell(podman, image, "id -u; id -g; pg_dump --version; command -v zstd tini")
    lines = out.splitlines()
    assert lines[:2] == ["10001", "10001"]
    assert "pg_dump (PostgreSQL) 15." in lines[2]


def test_nothing_of_the_build_is_left_in_it(podman: Podman, image: str) -> None:
    script = (
        "for tool in pip pip3 gcc cc make; do command -v $tool; done;"
        " ls -d /root/.cache/pip /src /run/secrets/pip_ca 2>/dev/null; env | grep '^PIP_' || true"
    )
    assert shell(podman, image, script).strip() == ""
    # The machine's own CAs (given to pip for the build) are not in the image's trust store.
    bundle = shell(podman, image, "cat /etc/ssl/certs/ca-certificates.crt")
    for extra in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        body = "".join(extra.read_text().split("-----")[2].split())
        assert body[:64] not in "".join(bundle.split()), extra.name


def test_labels_user_and_healthcheck_are_in_the_image_config(
    podman: Podman, image: str, revision: str
) -> None:
    inspected = json.loads(podman.run("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Labels"]["org.opencontainers.image.revision"] == revision
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["tini", "--", "neurmatic"]
    # Kept only in the Docker image format; podman reports it beside Config.
    health = inspected.get("Healthcheck") or config.get("Healthcheck")
    assert health, sorted(inspected)
    assert "/api/v1/health/live" in " ".join(health["Test"])


@pytest.fixture
def api_container(podman: Podman, image: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    name = f"neurmatic-api-{port}"
    started = time.monotonic()
    # As Kubernetes runs it: a read-only root filesystem, a tmpfs on /tmp, every capability dropped.
    podman.run(
        "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
        "--publish", f"127.0.0.1:{port}:3000", "--env", "WEB_CONCURRENCY=2", image,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v1/health/live"
    polled = poll(lambda: urllib.request.urlopen(url, timeout=2).status == 200, timeout=90, interval=0.2)
    assert polled.done, f"{url} never answered ({polled.why}):\n{podman.run('logs', name).stderr[-3000:]}"
    MEASURED["container start to /health/live 200"] = f"{time.monotonic() - started:.1f} s"
    yield name, port
    podman.run("rm", "--force", name, check=False)


def test_the_api_answers_liveness_through_a_published_port(
    podman: Podman, api_container: tuple[str, int]
) -> None:
    name, port = api_container
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/live", timeout=5) as response:
        assert json.load(response) == {"success": True, "data": {"status": "alive"}}
    assert podman.run("healthcheck", "run", name, check=False).returncode == 0
    processes = podman.run("top", name, "pid", "args").stdout.splitlines()[1:]
    assert processes[0].split() == ["1", "tini", "--", "neurmatic", "api"]
    assert len(processes) >= 4  # uvicorn's manager and its two workers under tini


def test_sigterm_reaches_uvicorn_through_tini(podman: Podman, api_container: tuple[str, int]) -> None:
    name, _ = api_container
    started = time.monotonic()
    podman.run("stop", "--time", "20", name)
    stopped_in = time.monotonic() - started
    state = json.loads(podman.run("inspect", name).stdout)[0]["State"]
    assert stopped_in < 15, f"took {stopped_in:.1f} s: the signal did not reach uvicorn (SIGKILL at 20 s)"
    assert state["ExitCode"] == 0, state
    MEASURED["graceful stop (SIGTERM to exit)"] = f"{stopped_in:.1f} s"
