"""Where everything lives: ports (all derived from one base port) and paths (all under the state dir)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_PORT = 18000
HOST = "127.0.0.1"
MAX_API_INSTANCES = 9
SENTINEL_MASTER_NAME = "mymaster"
DATABASE_NAME = "neurmatic_production"
APP_DB_USER = "neurmatic"
REPLICATION_USER = "replicator"
SUPERUSER = "postgres"
MONITORING_USER = "operator"  # Prometheus's and Alertmanager's web user (basic auth, MONITORING_PASSWORD)
METRICS_USER = "metrics"  # the exporters' own account in PostgreSQL (pg_monitor) and Redis (an ACL user)


@dataclass(frozen=True)
class Ports:
    """Every port of the topology, at a fixed offset from ``base`` so one option moves them all.

    With the default base 18000 the numbers echo the usual ones: https 18443, http 18080,
    PostgreSQL 18432/18433, Redis 18379/18380, Sentinels 18381-18383, API 18301.., mail 18025,
    Patroni's REST API 18009/18010 (8008), etcd clients 18241-18243 and peers 18251-18253; monitoring:
    Prometheus 18090, Alertmanager 18093, node exporter 18100, nginx exporter 18113 (nginx's stub_status
    on 18082), blackbox exporter 18115, Redis exporter 18121, PostgreSQL exporters 18187/18188, the
    worker's metrics 18320.
    """

    base: int = DEFAULT_BASE_PORT

    @property
    def https(self) -> int:
        return self.base + 443

    @property
    def http(self) -> int:
        return self.base + 80

    def postgres(self, index: int) -> int:
        return self.base + 431 + index

    def redis(self, index: int) -> int:
        return self.base + 378 + index

    def sentinel(self, index: int) -> int:
        return self.base + 380 + index

    def api(self, index: int) -> int:
        return self.base + 300 + index

    def patroni(self, index: int) -> int:
        """Patroni's REST API on PostgreSQL node ``index``."""
        return self.base + 8 + index

    def etcd_client(self, index: int) -> int:
        return self.base + 240 + index

    def etcd_peer(self, index: int) -> int:
        return self.base + 250 + index

    @property
    def prometheus(self) -> int:
        return self.base + 90

    @property
    def alertmanager(self) -> int:
        return self.base + 93

    @property
    def node_exporter(self) -> int:
        return self.base + 100

    @property
    def nginx_status(self) -> int:
        """nginx's internal ``stub_status`` listener (loopback only; read by the nginx exporter)."""
        return self.base + 82

    @property
    def nginx_exporter(self) -> int:
        return self.base + 113

    @property
    def blackbox_exporter(self) -> int:
        return self.base + 115

    @property
    def redis_exporter(self) -> int:
        return self.base + 121

    def postgres_exporter(self, index: int) -> int:
        """The PostgreSQL exporter of node ``index``."""
        return self.base + 186 + index

    @property
    def worker_metrics(self) -> int:
        return self.base + 320

    def monitoring_ports(self) -> list[int]:
        return [
            self.prometheus,
            self.alertmanager,
            self.node_exporter,
            self.nginx_status,
            self.nginx_exporter,
            self.blackbox_exporter,
            self.redis_exporter,
            *(self.postgres_exporter(i) for i in (1, 2)),
            self.worker_metrics,
        ]

    @property
    def mail(self) -> int:
        """The local SMTP catcher (the topology's outgoing mail lands there)."""
        return self.base + 25

    def all_ports(self, api_instances: int = 2) -> list[int]:
        return [
            self.https,
            self.http,
            *(self.postgres(i) for i in (1, 2)),
            *(self.patroni(i) for i in (1, 2)),
            *(self.etcd_client(i) for i in (1, 2, 3)),
            *(self.etcd_peer(i) for i in (1, 2, 3)),
            *(self.redis(i) for i in (1, 2)),
            *(self.sentinel(i) for i in (1, 2, 3)),
            *(self.api(i) for i in range(1, api_instances + 1)),
            self.mail,
            *self.monitoring_ports(),
        ]

    @property
    def span(self) -> int:
        """How many ports above ``base`` the topology may use (for choosing a free base)."""
        return 444


@dataclass(frozen=True)
class Paths:
    """The state directory's layout."""

    root: Path

    @property
    def topology_file(self) -> Path:
        return self.root / "topology.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    @property
    def app_env_file(self) -> Path:
        return self.root / "app.env"

    @property
    def pgpass_file(self) -> Path:
        return self.root / "pgpass"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def web(self) -> Path:
        """The web client's build nginx serves (copied from frontend/dist by ``up``)."""
        return self.root / "web"

    def postgres_data(self, index: int) -> Path:
        return self.root / "postgres" / str(index)

    def patroni_config(self, index: int) -> Path:
        """The rendered Patroni configuration of PostgreSQL node ``index`` (no secrets: those come from
        the environment Patroni runs with)."""
        return self.root / "patroni" / f"postgres-{index}.yml"

    @property
    def pgbackrest(self) -> Path:
        """pgBackRest's home: repo (repository 1, encrypted), spool, log, lock."""
        return self.root / "pgbackrest"

    @property
    def pgbackrest_repo(self) -> Path:
        return self.pgbackrest / "repo"

    def pgbackrest_config(self, index: int) -> Path:
        """Node ``index``'s pgBackRest configuration (its data directory is ``pg1-path``; no secrets)."""
        return self.pgbackrest / f"postgres-{index}.conf"

    def etcd_data(self, index: int) -> Path:
        return self.root / "etcd" / str(index)

    @property
    def monitoring(self) -> Path:
        """Prometheus's and Alertmanager's rendered configs and their data (``prometheus/``,
        ``alertmanager/``)."""
        return self.root / "monitoring"

    def redis_dir(self, index: int) -> Path:
        return self.root / "redis" / str(index)

    def sentinel_dir(self, index: int) -> Path:
        return self.root / "sentinel" / str(index)

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def metrics_dir(self, service: str) -> Path:
        """An API instance's metric files, one per worker process (PROMETHEUS_MULTIPROC_DIR)."""
        return self.run / "metrics" / service

    def pidfile(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def hold(self, service: str) -> Path:
        """Present while a deploy or scaling works on ``service``: the watcher leaves it alone."""
        return self.run / f"{service}.hold"

    @property
    def releases(self) -> Path:
        """Side-by-side releases, one directory each (``releases/<version>/{src,venv}``)."""
        return self.root / "releases"

    def release_dir(self, version: str) -> Path:
        return self.releases / version

    def release_python(self, version: str) -> Path:
        return self.release_dir(version) / "venv" / "bin" / "python"

    @property
    def release_history(self) -> Path:
        """The release records (versions, commits, times, statuses) and the current/previous pointers."""
        return self.root / "releases.json"

    @property
    def service_releases(self) -> Path:
        """Which release each API instance and the worker runs (absent: the installed package)."""
        return self.root / "service-releases.json"
