"""The production compose stack run with podman-compose: an operator's directory made the documented way
(docs/deploy.md, "A host with compose"), brought up in the documented order, and driven from the tests.

The operator's directory holds what a host would: docker-compose.production.yml, the rendered
infrastructure/ files, the `.env.production` that `neurmatic secrets generate` writes and a TLS
certificate for nginx. The compose file is the shipped one with only what this sandbox must change, each
done here and nowhere in the shipped files:

- every published port goes to a free port on 127.0.0.1 (80, 443 and PostgreSQL's 5432 are taken here,
  and only loopback may receive traffic);
- host paths outside the directory (/etc/letsencrypt, /var/www/certbot, /var/log/nginx) become directories
  inside it;
- pgBackRest keeps its first repository (a volume) only: its second is S3 on AWS, out of reach here;
- Grafana is left out: it has no Debian package to stand in for its image (tests/container/standins.py).

podman 4.3 (Debian bookworm's) runs healthchecks only from systemd timers and podman-compose ignores
``condition: service_healthy`` below podman 4.6, so the harness does what compose's conditions do: it
runs each service's own healthcheck (`podman healthcheck run`) until it passes before it starts what
depends on it, in the order the documentation gives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from neurmatic.polling import poll
from neurmatic.supervisor.state import ServiceAccount
from neurmatic.supervisor.tls import ensure_certificates
from neurmatic.supervisor.web_client import ensure_built
from tests.container.podman import Podman
from tests.container.standins import NOT_IN_DEBIAN
from tests.mailbox import free_port
from tests.support import ROOT

COMPOSE_FILE = "docker-compose.production.yml"
ENV_FILE = ".env.production"
DATA_SERVICES = (
    "etcd-1", "etcd-2", "etcd-3", "postgres-1", "postgres-2",
    "redis-master", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3",
)  # fmt: skip
OUTSIDE_PATHS = ("/etc/letsencrypt", "/var/www/certbot", "/var/log/nginx")


def sandboxed(compose: dict[str, Any], directory: Path) -> tuple[dict[str, Any], dict[str, dict[int, int]]]:
    """The compose file with this sandbox's changes (see the module's docstring) and the published
    ports: {service: {container port: host port on 127.0.0.1}}."""
    services = {name: spec for name, spec in compose["services"].items() if name not in NOT_IN_DEBIAN}

    def sources(specs: list[dict[str, Any]]) -> set[str]:
        return {volume.partition(":")[0] for spec in specs for volume in spec.get("volumes", [])}

    unused_volumes = sources([compose["services"][name] for name in NOT_IN_DEBIAN]) - sources(
        list(services.values())
    )
    published: dict[str, dict[int, int]] = {}
    for name, spec in services.items():
        for dropped in NOT_IN_DEBIAN:
            spec.get("depends_on", {}).pop(dropped, None)
        environment = spec.get("environment", {})
        for variable in [v for v in environment if v.startswith("PGBACKREST_REPO2_")]:
            del environment[variable]  # pgBackRest's S3 repository: see prepare()
        if "ports" in spec:
            mapping = {int(str(entry).rsplit(":", 1)[1]): free_port() for entry in spec["ports"]}
            spec["ports"] = [f"127.0.0.1:{host}:{inside}" for inside, host in mapping.items()]
            published[name] = mapping
        volumes = []
        for volume in spec.get("volumes", []):
            source, _, rest = volume.partition(":")
            if source in OUTSIDE_PATHS:
                inside = directory / "host" / source.lstrip("/")
                inside.mkdir(parents=True, exist_ok=True)
                source = str(inside)
            volumes.append(f"{source}:{rest}")
        if volumes:
            spec["volumes"] = volumes
    volumes_used = {name: value for name, value in compose["volumes"].items() if name not in unused_volumes}
    return {**compose, "services": services, "volumes": volumes_used}, published


@dataclass
class ComposeStack:
    """A compose project of the production file in ``directory``, run by podman-compose on ``podman``."""

    podman: Podman
    directory: Path
    project: str
    published: dict[str, dict[int, int]] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)  # those of the sandboxed file, in its order

    @classmethod
    def prepare(cls, podman: Podman, directory: Path, project: str) -> ComposeStack:
        """The operator's directory: the files, the generated secrets and nginx's certificate."""
        shutil.copytree(ROOT / "infrastructure", directory / "infrastructure")
        # The web client's build, which the nginx service mounts (docs/deploy.md: built before `up`).
        shutil.copytree(ensure_built(ROOT / "frontend"), directory / "frontend" / "dist")
        # pgBackRest's second repository is S3 on AWS, which this sandbox cannot reach: every command
        # would wait out its timeouts on it. The first (the shared volume) is kept as shipped.
        pgbackrest = directory / "infrastructure" / "pgbackrest" / "pgbackrest.conf"
        kept = [line for line in pgbackrest.read_text().splitlines() if not line.startswith("repo2-")]
        pgbackrest.write_text("\n".join(kept) + "\n")
        (directory / "backups").mkdir()
        env_file = directory / ENV_FILE
        subprocess.run(
            [
                str(Path(sys.executable).parent / "neurmatic"), "secrets", "generate", "--out", str(env_file),
                "--api-url", "https://127.0.0.1", "--frontend-url", "https://127.0.0.1",
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        # The backend image the tests built, under the name the compose file gives it; mail into a
        # directory of the worker's (no SendGrid from here, and the secrets' empty key stops the worker).
        values = {
            "REGISTRY": "localhost", "IMAGE_NAME_BACKEND": "neurmatic-backend", "IMAGE_TAG": "test",
            "MAIL_OUTBOX_DIR": "/tmp/neurmatic-outbox",
        }  # fmt: skip
        lines = [line for line in env_file.read_text().splitlines() if line.partition("=")[0] not in values]
        env_file.write_text("\n".join([*lines, *(f"{key}={value}" for key, value in values.items())]) + "\n")
        ssl = directory / "infrastructure" / "nginx" / "ssl" / "production"
        ssl.mkdir(parents=True, exist_ok=True)
        (directory / "tls").mkdir()
        ca, cert, key = ensure_certificates(
            directory / "tls", ServiceAccount(None, 0, 0), extra_dns_names=("nginx",)
        )
        shutil.copyfile(cert, ssl / "fullchain.pem")
        shutil.copyfile(key, ssl / "privkey.pem")
        shutil.copyfile(ca, ssl / "chain.pem")  # the issuer, as certbot's chain.pem (OCSP stapling)
        compose = yaml.safe_load((ROOT / COMPOSE_FILE).read_text())
        changed, published = sandboxed(compose, directory)
        (directory / COMPOSE_FILE).write_text(yaml.safe_dump(changed, sort_keys=False))
        return cls(podman, directory, project, published, list(changed["services"]))

    @property
    def ca(self) -> Path:
        return self.directory / "tls" / "ca.pem"

    def compose(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [
            str(Path(sys.executable).parent / "podman-compose"), "--project-name", self.project,
            "--env-file", ENV_FILE, "--file", COMPOSE_FILE, *argv,
        ]  # fmt: skip
        result = subprocess.run(
            command, cwd=self.directory, env=self.podman.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(
                f"podman-compose {' '.join(argv)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def up(self, services: Sequence[str]) -> None:
        self.compose("up", "--detach", "--no-build", *services)

    def await_healthy(self, services: Sequence[str], timeout: float) -> None:
        """Each service's own compose healthcheck run until it passes (what `service_healthy` waits for)."""
        for service in services:
            polled = poll(partial(self.passes_healthcheck, service), timeout=timeout, interval=2)
            assert polled.done, f"{service} never became healthy: {polled.why}\n{self.logs(service)}"

    def patroni_cluster(self) -> dict[str, Any]:
        """Patroni's view of the cluster (GET /cluster on postgres-1's REST API)."""
        code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8008/cluster').read().decode())"
        cluster: dict[str, Any] = self.exec_json("postgres-1", code)
        return cluster

    def await_patroni_cluster(self, timeout: float) -> None:
        """A leader running and a standby streaming: the bootstrap is over (a node's own /health, the
        compose healthcheck, already passes while the post_bootstrap hook runs, before the leader serves
        the network)."""

        def whole() -> bool:
            states = sorted((m["role"], m["state"]) for m in self.patroni_cluster()["members"])
            return states in ([("leader", "running"), ("sync_standby", "streaming")],
                              [("leader", "running"), ("replica", "streaming")])  # fmt: skip

        polled = poll(whole, timeout=timeout, interval=2)
        assert polled.done, f"no leader with a streaming standby: {polled.why}\n{self.logs('postgres-1')}"

    def passes_healthcheck(self, service: str) -> bool:
        return self.podman.run("healthcheck", "run", self.container(service), check=False).returncode == 0

    def exec_json(self, service: str, code: str) -> Any:
        """What a Python snippet run inside the service's container prints, read as JSON."""
        out = self.podman.run("exec", self.container(service), "python3", "-c", code, timeout=60).stdout
        return json.loads(out)

    def logs(self, service: str) -> str:
        result = self.podman.run("logs", "--tail", "60", self.container(service), check=False)
        return (result.stdout + result.stderr)[-4000:]

    def down(self) -> None:
        self.compose("down", "--volumes", "--timeout", "10", timeout=900)
