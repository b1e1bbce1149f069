"""The production compose file proven, not only rendered: docker-compose.production.yml brought up with
podman-compose the way docs/deploy.md says (data services, then the schema with a one-off `migrate`
container, then everything else), on the backend image built from infrastructure/Dockerfile, the Patroni
image built from infrastructure/patroni/Dockerfile, and Debian-made stand-ins for the public images
(tests/container/standins.py). Then, through nginx with TLS: health, register and sign in, an article
written on one API instance and read on the other, Prometheus scraping the services, and a verified
backup taken by the ops kit in a one-off container of the stack."""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neurmatic.polling import poll
from tests.container.compose_stack import DATA_SERVICES, ComposeStack
from tests.container.conftest import MEASURED
from tests.container.podman import Podman, build_options, pip_settings
from tests.container.standins import bootstrap_services_base, build_standins
from tests.support import ROOT, make_state_parent, register_and_login

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]
PATRONI_IMAGE = "localhost/neurmatic-patroni:latest"
APP_UID = 10001


@pytest.fixture(scope="module")
def standins(podman: Podman, image: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every image the compose file names, present in the store: stand-ins, Patroni, the backend."""
    workdir = tmp_path_factory.mktemp("standins")
    seconds = bootstrap_services_base(podman, workdir)
    MEASURED["services base (mmdebstrap, every server's Debian package)"] = f"{seconds:.0f} s"
    seconds = build_standins(podman, workdir)
    MEASURED["stand-in images (11, on that base)"] = f"{seconds:.0f} s"
    started = time.monotonic()
    podman.run(
        "build", "--isolation", "chroot", "--pull=never", "--format", "docker", "--tag", PATRONI_IMAGE,
        *build_options(pip_settings()), str(ROOT / "infrastructure" / "patroni"), timeout=1200,
    )  # fmt: skip
    MEASURED["Patroni image build"] = f"{time.monotonic() - started:.0f} s"


@pytest.fixture(scope="module")
def stack(podman: Podman, standins: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    directory = make_state_parent(tmp_path_factory, "compose") / "host"
    directory.mkdir()
    stack = ComposeStack.prepare(podman, directory, "nmtest")
    started = time.monotonic()
    try:
        # docs/deploy.md, step 3: the data services, healthy, then the schema the compose way.
        stack.up(DATA_SERVICES)
        stack.await_healthy(DATA_SERVICES, timeout=300)
        stack.await_patroni_cluster(timeout=180)
        MEASURED["compose: data services up and healthy"] = f"{time.monotonic() - started:.0f} s"
        # --no-deps: the dependencies are up; podman-compose's `run` would `up` them again and trip over
        # its own containers ("not a valid container, cannot be used as a dependency"). -T: no terminal,
        # which would mix the progress lines (stderr) into the JSON (stdout).
        migrate = stack.compose("run", "--rm", "--no-deps", "-T", "backend-1", "migrate", "--json")
        migrated = json.loads(migrate.stdout)
        assert migrated["to_revision"], migrated
        # Step 4: everything else.
        rest = [service for service in stack.services if service not in DATA_SERVICES]
        stack.up(rest)
        stack.await_healthy(["backend-1", "backend-2", "worker", "nginx"], timeout=300)
        MEASURED["compose: whole stack up (data, migrate, apps, nginx healthy)"] = (
            f"{time.monotonic() - started:.0f} s"
        )
        yield stack
    finally:
        stack.down()


def https(stack: ComposeStack) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(stack.ca))
    port = stack.published["nginx"][443]
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=30)


def inside(
    stack: ComposeStack, service: str, method: str, path: str, token: str | None = None, body: Any = None
) -> Any:
    """A request made inside ``service``'s container to its own API process (port 3000)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    code = (
        "import json, urllib.request;"
        f"r = urllib.request.Request('http://127.0.0.1:3000{path}', method={method!r},"
        f" data={json.dumps(body).encode() if body is not None else None!r}, headers={headers!r});"
        "print(urllib.request.urlopen(r, timeout=20).read().decode())"
    )
    return stack.exec_json(service, code)


def test_health_sign_in_and_an_article_written_on_one_instance_read_on_the_other(
    stack: ComposeStack,
) -> None:
    with https(stack) as client:
        health = client.get("/api/v1/health")
        assert health.status_code == 200 and health.json()["data"]["status"] != "unhealthy", health.text

        # The components, as the internal network sees them: every one up, the WAL archive included
        # (the bootstrap hook made pgBackRest's stanza).
        # Polled: right after the bring-up, a check may still time out on a machine this busy.
        def not_up() -> dict[str, Any]:
            report = inside(stack, "backend-1", "GET", "/api/v1/health")["data"]["components"]
            components.update(report)
            return {name: c for name, c in report.items() if c["status"] != "up"}

        components: dict[str, Any] = {}
        polled = poll(not_up, timeout=90, interval=3, done=lambda down: not down)
        assert polled.done, polled.value
        expected = {"database", "database_replica", "redis", "sentinel", "queue", "patroni", "wal_archive"}
        assert expected <= set(components), sorted(components)
        _, login = register_and_login(client, "compose")
        token = login.json()["data"]["accessToken"]
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text

        article = {"title": "Written on backend-1", "summary": "compose", "bodyHtml": "<p>hi</p>",
                   "status": "published"}  # fmt: skip
        written = inside(stack, "backend-1", "POST", "/api/v1/articles", token, article)["data"]
        read = inside(stack, "backend-2", "GET", f"/api/v1/articles/{written['slug']}", token)["data"]
        assert read["id"] == written["id"] and read["title"] == article["title"]
        through_nginx = client.get(f"/api/v1/articles/{written['slug']}")
        assert through_nginx.status_code == 200 and through_nginx.json()["data"]["id"] == written["id"]
        # The web client's page for it: nginx's own file (the SPA's index.html), not an API answer.
        page = client.get(f"/articles/{written['slug']}")
        assert page.status_code == 200 and '<div id="root">' in page.text, page.text[:200]
        assert page.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_patroni_runs_a_leader_and_a_streaming_standby(stack: ComposeStack) -> None:
    cluster = stack.patroni_cluster()
    roles = sorted((member["name"], member["role"], member["state"]) for member in cluster["members"])
    assert [role for _, role, _ in roles].count("leader") == 1, roles
    assert [state for _, role, state in roles if role != "leader"] == ["streaming"], roles


def test_the_bootstrap_hook_made_pgbackrests_stanza(stack: ComposeStack) -> None:
    """The leader's post_bootstrap hook ran stanza-create: the repository on the shared volume has it."""
    listing = stack.podman.run(
        "exec", stack.container("postgres-1"), "sh", "-c", "ls /var/lib/pgbackrest/archive/neurmatic"
    ).stdout.split()
    assert "archive.info" in listing, listing


def test_prometheus_scrapes_the_stack(stack: ComposeStack) -> None:
    url = f"http://127.0.0.1:{stack.published['prometheus'][9090]}/api/v1/targets"

    def up_jobs() -> set[str]:
        with urllib.request.urlopen(url, timeout=10) as response:
            targets = json.load(response)["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"}

    wanted = {"api", "worker", "postgres", "redis", "patroni", "etcd", "nginx", "prometheus", "alertmanager"}
    polled = poll(up_jobs, timeout=120, interval=5, done=lambda jobs: wanted <= jobs)
    assert polled.done, f"jobs up: {polled.value}, wanted {wanted}"


def test_a_verified_backup_by_the_ops_kit_lands_in_the_mounted_directory(
    stack: ComposeStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    backups = make_state_parent(tmp_path_factory, "compose-backups") / "backups"
    backups.mkdir()
    shutil.chown(backups, APP_UID, APP_UID)
    # No S3 from inside this sandbox's containers: the backup stays local (AWS_BACKUP_BUCKET empty).
    out = stack.compose(
        "run", "--rm", "--no-deps", "-T", "-e", "AWS_BACKUP_BUCKET=",
        "-v", f"{backups}:/var/backups/neurmatic", "backend-1", "backup", "--verify", "--json",
    ).stdout  # fmt: skip
    made = json.loads(out)
    assert made["verified"] is True, made
    on_host = backups / Path(made["path"]).relative_to("/var/backups/neurmatic")
    assert on_host.is_file() and on_host.stat().st_size > 0, made
    assert made["tables"]["public.alembic_version"] == 1 and "public.articles" in made["tables"], made
