"""Prometheus's scrape configuration and the blackbox exporter's probe, for the local topology and for
production: one template each, the targets as data.

Jobs (the names the rules, ``neurmatic top`` and the dashboards use): ``api`` (every API instance),
``worker``, ``node`` (the host), ``postgres`` (one exporter per node), ``patroni`` (its REST API's
metrics: who leads, who streams), ``etcd`` (its members: a leader, a quorum), ``redis`` (one exporter,
every Redis server and Sentinel as a target), ``nginx`` (stub_status through its exporter),
``blackbox`` (the edge's TLS endpoint probed), ``prometheus`` and ``alertmanager`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neurmatic.render import render_template

API_METRICS_PATH = "/internal/metrics"  # answered to direct peers only: nginx never forwards /internal/
PRODUCTION_SCRAPE_INTERVAL = "15s"
# The local topology scrapes and evaluates as production does: a shorter interval costs every topology
# CPU (each API scrape samples Redis and the database) for alerts whose `for:` is a minute or more.
LOCAL_SCRAPE_INTERVAL = PRODUCTION_SCRAPE_INTERVAL
# Prometheus keeps 15 days, bounded on disk whatever the scrape load (local topology and production).
PROMETHEUS_RETENTION_TIME = "15d"
PROMETHEUS_RETENTION_SIZE = "2GB"
# The node exporter's collectors: the host's CPU, memory, disks and load, what the rules read.
NODE_EXPORTER_COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "diskstats")


@dataclass(frozen=True)
class Target:
    address: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: tuple[Target, ...]
    metrics_path: str = "/metrics"
    module: str | None = None  # the blackbox exporter's module
    exporter: str | None = None  # a multi-target exporter's address: the targets become its parameter
    authenticated: bool = (
        False  # Prometheus or Alertmanager behind basic auth (``PrometheusConfig.basic_auth``)
    )


@dataclass(frozen=True)
class BasicAuth:
    """What Prometheus sends to its own web API and to Alertmanager's when they want a password."""

    username: str
    password_file: str


@dataclass(frozen=True)
class PrometheusConfig:
    jobs: tuple[ScrapeJob, ...]
    alertmanagers: tuple[str, ...]
    rules_file: str
    deployment: str
    scrape_interval: str = PRODUCTION_SCRAPE_INTERVAL
    evaluation_interval: str = PRODUCTION_SCRAPE_INTERVAL
    scrape_timeout: str = field(default="")
    basic_auth: BasicAuth | None = None

    def __post_init__(self) -> None:
        if not self.scrape_timeout:  # at most the interval; 10 s is Prometheus's own default
            seconds = min(10, int(self.scrape_interval.rstrip("s")))
            object.__setattr__(self, "scrape_timeout", f"{seconds}s")


def named(addresses: dict[str, str], label: str = "service") -> tuple[Target, ...]:
    """Targets labelled with the service they belong to (``service="backend-1"``)."""
    return tuple(Target(address, ((label, name),)) for name, address in addresses.items())


def render_prometheus(config: PrometheusConfig) -> str:
    return render_template(
        "prometheus/prometheus.yml.j2",
        jobs=config.jobs,
        alertmanagers=[f'"{address}"' for address in config.alertmanagers],
        rules_file=config.rules_file,
        deployment=config.deployment,
        scrape_interval=config.scrape_interval,
        evaluation_interval=config.evaluation_interval,
        scrape_timeout=config.scrape_timeout,
        basic_auth=config.basic_auth,
    )


def web_config(username: str, password: str) -> str:
    """Prometheus's and Alertmanager's ``--web.config.file``: one user, its password as a bcrypt hash."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"# Rendered by neurmatic: the web API's only user.\nbasic_auth_users:\n  {username}: '{hashed}'\n"


def render_blackbox(ca_file: str | None, server_name: str | None = None) -> str:
    """The probe module; ``server_name`` is the name the edge's certificate holds when the probe reaches
    it by another (production probes ``nginx:443``, the certificate is the public host's)."""
    return render_template("blackbox/blackbox.yml.j2", ca_file=ca_file, server_name=server_name)


PRODUCTION_RULES_FILE = "/etc/prometheus/rules.yml"


def production_prometheus(rules_file: str = PRODUCTION_RULES_FILE) -> str:
    """Production's scrape config: the compose services by name (each exporter a service of its own)."""
    jobs = (
        ScrapeJob("api", named({f"backend-{i}": f"backend-{i}:3000" for i in (1, 2)}), API_METRICS_PATH),
        ScrapeJob("worker", named({"worker": "worker:9400"})),
        ScrapeJob("node", (Target("node-exporter:9100"),)),
        ScrapeJob(
            "postgres",
            named({f"postgres-{i}": f"postgres-exporter-{i}:9187" for i in (1, 2)}, label="node"),
        ),
        ScrapeJob(
            "redis",
            tuple(
                Target(f"redis://{host}")
                for host in (
                    "redis-master:6379",
                    "redis-replica:6379",
                    *(f"sentinel-{i}:26379" for i in (1, 2, 3)),
                )
            ),
            metrics_path="/scrape",
            exporter="redis-exporter:9121",
        ),
        ScrapeJob("patroni", named({f"postgres-{i}": f"postgres-{i}:8008" for i in (1, 2)}, label="node")),
        ScrapeJob("etcd", named({f"etcd-{i}": f"etcd-{i}:2379" for i in (1, 2, 3)})),
        ScrapeJob("nginx", (Target("nginx-exporter:9113"),)),
        ScrapeJob(
            "blackbox",
            (Target("nginx:443"),),
            metrics_path="/probe",
            module="https_edge",
            exporter="blackbox-exporter:9115",
        ),
        ScrapeJob("prometheus", (Target("localhost:9090"),)),
        ScrapeJob("alertmanager", (Target("alertmanager:9093"),)),
    )
    config = PrometheusConfig(
        jobs=jobs,
        alertmanagers=("alertmanager:9093",),
        rules_file=rules_file,
        deployment="production",
    )
    return render_prometheus(config)
