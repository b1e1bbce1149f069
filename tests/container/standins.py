"""Stand-ins for the public images the production compose file names, for a machine with no registry.

Every service of docker-compose.production.yml other than ours runs a public image (etcd from quay.io,
Redis, nginx, PostgreSQL and the Prometheus family from Docker Hub). None can be pulled here, so each is
stood in for by an image made from Debian bookworm's packages of the same server, tagged with the very
name the compose file uses, laid out as the original is where the compose file relies on it: the
binary's path (``/usr/local/bin/etcd``, ``/bin/prometheus``), the entry point, the user, the working
directory and the data directories a fresh named volume is copied from. The compose file itself is run
unchanged but for what a sandbox must change (tests/container/compose_stack.py).

All the stand-ins share one root made by mmdebstrap with every server's package; each is then a few
lines on top of it. Versions differ (Debian's etcd 3.4, nginx 1.22, Prometheus 2.42, …): the compose
file and the configs it mounts use nothing newer, and the local topology runs the same packages.
Grafana is not in Debian's archive: it has no stand-in and the harness leaves it out.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.container.podman import Podman, bootstrap_root

SERVICES_BASE = "localhost/neurmatic-test-services:bookworm"
SERVICE_PACKAGES = (
    "ca-certificates", "wget", "python3", "python3-venv",
    "etcd-server", "etcd-client", "redis-server", "redis-tools", "nginx",
    "postgresql-15", "postgresql-client-15", "pgbackrest",
    "prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "prometheus-postgres-exporter",
    "prometheus-redis-exporter", "prometheus-nginx-exporter", "prometheus-blackbox-exporter",
)  # fmt: skip

# Compose's image name → the lines that make Debian's package look like that image (FROM is added).
STANDINS: dict[str, str] = {
    "quay.io/coreos/etcd:v3.5.17": """
RUN ln -s /usr/bin/etcd /usr/local/bin/etcd && ln -s /usr/bin/etcdctl /usr/local/bin/etcdctl
# etcd 3.4 (Debian's) speaks the v3 API the compose healthcheck's etcdctl uses only when told so.
ENV ETCDCTL_API=3
""",
    "docker.io/library/postgres:15-bookworm": """
# As the official image: PostgreSQL's programs on PATH, PGDATA a directory the postgres user owns (a
# fresh volume is copied from it), the socket directory writable, no cluster made by the package.
RUN pg_dropcluster 15 main 2>/dev/null || true; \\
    mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \\
    && chmod 1777 /var/lib/postgresql/data && chmod 2777 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
""",
    "docker.io/library/redis:7-alpine": """
# As the official image: redis-sentinel beside redis-server, a redis user owning /data, the working dir.
RUN ln -sf /usr/bin/redis-server /usr/local/bin/redis-sentinel \\
    && mkdir -p /data /usr/local/etc/redis && chown redis:redis /data
WORKDIR /data
CMD ["redis-server"]
""",
    "docker.io/library/nginx:1.28-alpine": """
# As the official image: an nginx user (the config's `user nginx;`), its cache directory, nginx in the
# foreground as the command.
RUN useradd --system --no-create-home --shell /usr/sbin/nologin nginx \\
    && mkdir -p /var/cache/nginx && chown nginx /var/cache/nginx
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
""",
    "docker.io/prom/prometheus:v2.53.3": """
# /bin is /usr/bin on bookworm (merged /usr): Debian's /usr/bin/prometheus is already /bin/prometheus.
RUN mkdir -p /prometheus && chown nobody /prometheus
USER nobody
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
""",
    "docker.io/prom/alertmanager:v0.27.0": """
# As the official image: /etc/alertmanager and /alertmanager belong to nobody (no secrets directory: the
# compose file's tmpfs makes it, with its own mode).
RUN ln -s /usr/bin/prometheus-alertmanager /bin/alertmanager \\
    && mkdir -p /alertmanager /etc/alertmanager && chown nobody /alertmanager /etc/alertmanager
USER nobody
WORKDIR /alertmanager
ENTRYPOINT ["/bin/alertmanager"]
""",
    "docker.io/prom/node-exporter:v1.8.2": """
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-node-exporter"]
""",
    "quay.io/prometheuscommunity/postgres-exporter:v0.15.0": """
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]
""",
    "docker.io/oliver006/redis_exporter:v1.62.0-alpine": """
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-redis-exporter"]
""",
    "docker.io/nginx/nginx-prometheus-exporter:1.4.2": """
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-nginx-exporter"]
""",
    "docker.io/prom/blackbox-exporter:v0.25.0": """
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-blackbox-exporter"]
""",
}
NOT_IN_DEBIAN = ("grafana",)  # services whose image has no Debian package to stand in


def bootstrap_services_base(podman: Podman, workdir: Path) -> float:
    """Debian bookworm with every server's package, imported as SERVICES_BASE; the seconds taken."""
    no_apt_lists = '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
    return bootstrap_root(podman, SERVICES_BASE, workdir, SERVICE_PACKAGES, no_apt_lists)


def build_standins(podman: Podman, workdir: Path) -> float:
    """Every stand-in built on SERVICES_BASE and tagged with its compose image name; the seconds taken."""
    started = time.monotonic()
    for index, (image, lines) in enumerate(STANDINS.items()):
        context = workdir / f"standin-{index}"
        context.mkdir()
        (context / "Containerfile").write_text(f"FROM {SERVICES_BASE}\n{lines}")
        podman.run(
            "build", "--isolation", "chroot", "--pull=never", "--format", "docker",
            "--tag", image, str(context), timeout=300,
        )  # fmt: skip
    return time.monotonic() - started
