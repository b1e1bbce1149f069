"""What the local topology's monitoring reaches and with which credentials: Prometheus's scrape targets
(the same jobs as production's, on this topology's loopback ports), the Redis exporter's targets and its
ACL user on every Redis server and Sentinel, and the operators' password file Prometheus sends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.supervisor.layout import HOST, METRICS_USER, MONITORING_USER
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:  # Jinja2 comes with the render package: imported where a config is written
    from neurmatic.render.monitoring import PrometheusConfig


def redis_targets(state: TopologyState) -> list[str]:
    """Every Redis server and Sentinel, as the exporter's targets."""
    ports = state.ports
    servers = [ports.redis(i) for i in (1, 2)] + [ports.sentinel(i) for i in (1, 2, 3)]
    return [f"redis://{HOST}:{port}" for port in servers]


def monitoring_password_file(state: TopologyState) -> Path:
    """MONITORING_PASSWORD, for Prometheus to send to Alertmanager and to itself (mode 0600)."""
    return state.paths.monitoring / "operator-password"


def grant_redis_exporter_access(state: TopologyState) -> None:
    """The exporter's ACL user on every Redis server and Sentinel (idempotent: run on every ``up``, so
    a topology created before monitoring gets it too). Redis persists it with CONFIG REWRITE, Sentinel
    rewrites its own config when its users change."""
    from neurmatic.adapters.probes import redis_call
    from neurmatic.render.redis_acl import REDIS_METRICS_ACL, SENTINEL_METRICS_ACL, acl_user_rules

    password = state.secrets["METRICS_REDIS_PASSWORD"]

    def setuser(rules: str) -> tuple[str, ...]:
        return ("ACL", "SETUSER", METRICS_USER, "reset", *acl_user_rules(password, rules))

    for index in (1, 2):
        redis_call(
            HOST,
            state.ports.redis(index),
            state.secrets["REDIS_PASSWORD"],
            setuser(REDIS_METRICS_ACL),
            ("CONFIG", "REWRITE"),
        )
    for index in (1, 2, 3):
        redis_call(
            HOST,
            state.ports.sentinel(index),
            state.secrets["REDIS_SENTINEL_PASSWORD"],
            setuser(SENTINEL_METRICS_ACL),
        )


def local_prometheus_config(state: TopologyState) -> PrometheusConfig:
    """This topology's scrape targets, on its loopback ports."""
    from neurmatic.render.monitoring import (
        API_METRICS_PATH,
        LOCAL_SCRAPE_INTERVAL,
        BasicAuth,
        PrometheusConfig,
        ScrapeJob,
        Target,
        named,
    )

    ports = state.ports
    jobs = (
        ScrapeJob(
            "api",
            named({f"backend-{i}": f"{HOST}:{ports.api(i)}" for i in range(1, state.api_instances + 1)}),
            API_METRICS_PATH,
        ),
        ScrapeJob("worker", named({"worker": f"{HOST}:{ports.worker_metrics}"})),
        ScrapeJob("node", (Target(f"{HOST}:{ports.node_exporter}"),)),
        ScrapeJob(
            "postgres",
            named({f"postgres-{i}": f"{HOST}:{ports.postgres_exporter(i)}" for i in (1, 2)}, label="node"),
        ),
        ScrapeJob(
            "redis",
            tuple(Target(t) for t in redis_targets(state)),
            metrics_path="/scrape",
            exporter=f"{HOST}:{ports.redis_exporter}",
        ),
        ScrapeJob(
            "patroni", named({f"postgres-{i}": f"{HOST}:{ports.patroni(i)}" for i in (1, 2)}, label="node")
        ),
        ScrapeJob("etcd", named({f"etcd-{i}": f"{HOST}:{ports.etcd_client(i)}" for i in (1, 2, 3)})),
        ScrapeJob("nginx", (Target(f"{HOST}:{ports.nginx_exporter}"),)),
        ScrapeJob(
            "blackbox",
            (Target(f"{HOST}:{ports.https}"),),
            metrics_path="/probe",
            module="https_edge",
            exporter=f"{HOST}:{ports.blackbox_exporter}",
        ),
        ScrapeJob("prometheus", (Target(f"{HOST}:{ports.prometheus}"),), authenticated=True),
        ScrapeJob("alertmanager", (Target(f"{HOST}:{ports.alertmanager}"),), authenticated=True),
    )
    return PrometheusConfig(
        jobs=jobs,
        alertmanagers=(f"{HOST}:{ports.alertmanager}",),
        rules_file=str(state.paths.monitoring / "prometheus" / "rules.yml"),
        deployment=f"local-{ports.base}",
        scrape_interval=LOCAL_SCRAPE_INTERVAL,
        evaluation_interval=LOCAL_SCRAPE_INTERVAL,
        basic_auth=BasicAuth(MONITORING_USER, str(monitoring_password_file(state))),
    )
