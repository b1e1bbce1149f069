"""The production compose file and the Patroni configs of its database nodes: the services,
their health checks and wiring, the etcd cluster, and PostgreSQL under Patroni from the same settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from neurmatic.ops.flows.env_file import production_env_file
from neurmatic.render.compose import DATABASE_NODES, ETCD_MEMBERS, NETWORK_SUBNET, render_compose
from neurmatic.render.patroni import PATRONI_OWNED
from neurmatic.render.postgres import PRODUCTION_APP_USER, PRODUCTION_DATABASE, PRODUCTION_SETTINGS
from neurmatic.render.production import PATRONI_DATA_DIR, PATRONI_POST_BOOTSTRAP, production_files
from tests.support import ROOT, make_state_parent
from tests.unit.test_compose_monitoring import MONITORING_SERVICES

SERVICES = {
    "etcd-1",
    "etcd-2",
    "etcd-3",
    "postgres-1",
    "postgres-2",
    "redis-master",
    "redis-replica",
    "sentinel-1",
    "sentinel-2",
    "sentinel-3",
    "backend-1",
    "backend-2",
    "worker",
    "nginx",
    *MONITORING_SERVICES,
}
# Its image has no shell or HTTP client: Prometheus's `up` for job nginx watches it instead.
WITHOUT_HEALTHCHECK = {"nginx-exporter"}
APPS = ("backend-1", "backend-2", "worker")
PATRONI_PASSWORDS = {
    "PATRONI_SUPERUSER_PASSWORD": "${POSTGRES_SUPERUSER_PASSWORD}",
    "PATRONI_REWIND_PASSWORD": "${POSTGRES_SUPERUSER_PASSWORD}",  # pg_rewind runs as the superuser
    "PATRONI_REPLICATION_PASSWORD": "${REPLICATOR_PASSWORD}",
    "PATRONI_RESTAPI_PASSWORD": "${PATRONI_RESTAPI_PASSWORD}",
}


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(render_compose())["services"]
    return services


def _patroni_configs() -> dict[str, dict[str, Any]]:
    rendered = production_files()
    return {node: yaml.safe_load(rendered[f"infrastructure/patroni/{node}.yml"]) for node in DATABASE_NODES}


def _flags(command: list[str]) -> dict[str, str]:
    return dict(part.removeprefix("--").split("=", 1) for part in command if part.startswith("--"))


def test_compose_has_the_services_each_with_a_healthcheck() -> None:
    compose = yaml.safe_load(render_compose())
    assert "version" not in compose
    assert "configs" not in compose  # the bare primary's replicator-creating init script is gone
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert ("healthcheck" not in service) == (name in WITHOUT_HEALTHCHECK), name
        if name not in WITHOUT_HEALTHCHECK:
            assert service["healthcheck"]["test"], name
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    for index in (1, 2, 3):
        assert "redis-cli -p 26379" in services[f"sentinel-{index}"]["healthcheck"]["test"][1]
    assert "/api/v1/health/ready" in " ".join(services["backend-1"]["healthcheck"]["test"])
    assert "/api/v1/health/live" in services["nginx"]["healthcheck"]["test"][1]


def test_the_etcd_cluster_has_three_members_that_name_each_other() -> None:
    services = _services()
    assert ETCD_MEMBERS == ("etcd-1", "etcd-2", "etcd-3")
    flags = {name: _flags(services[name]["command"]) for name in ETCD_MEMBERS}
    peers = {name: member["initial-advertise-peer-urls"] for name, member in flags.items()}
    assert len(set(peers.values())) == 3
    for name, member in flags.items():
        service = services[name]
        assert service["image"].startswith("quay.io/coreos/etcd:v3.5.")
        assert service["command"][0] == "/usr/local/bin/etcd"
        assert member["name"] == name
        assert member["initial-cluster"] == ",".join(f"{n}={url}" for n, url in peers.items())
        assert member["advertise-client-urls"] == f"http://{name}:2379"
        assert urlsplit(peers[name]).hostname == name
        # Data on the member's own named volume.
        volume = f"{name.replace('-', '_')}_data:{member['data-dir']}"
        assert service["volumes"] == [volume]
        assert "etcdctl" in service["healthcheck"]["test"][1]
    assert len({member["initial-cluster-token"] for member in flags.values()}) == 1


def test_etcd_runs_with_the_local_topologys_flags(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Same flags, same timings: only the addresses, data directory and cluster token differ."""
    from neurmatic.supervisor.services.etcd import EtcdMember
    from neurmatic.supervisor.state import TopologyState

    state = TopologyState.create(make_state_parent(tmp_path_factory, "etcd") / "s")
    local = _flags(EtcdMember(state, 1).command())
    production = _flags(_services()["etcd-1"]["command"])
    assert set(production) == set(local)
    for flag in ("heartbeat-interval", "election-timeout", "initial-cluster-state", "logger", "log-outputs"):
        assert production[flag] == local[flag], flag


def test_both_database_nodes_run_patroni_with_their_rendered_config() -> None:
    services = _services()
    for node in DATABASE_NODES:
        service = services[node]
        assert service["image"].startswith("neurmatic-patroni:")
        assert service["build"] == "./infrastructure/patroni"
        assert "entrypoint" not in service and "command" not in service  # the image runs Patroni
        assert f"./infrastructure/patroni/{node}.yml:/etc/patroni/patroni.yml:ro" in service["volumes"]
        data_volume = f"{node.replace('-', '_')}_data:/var/lib/postgresql/data"
        assert data_volume in service["volumes"]
        assert PATRONI_DATA_DIR.startswith("/var/lib/postgresql/data/")
        env = service["environment"]
        assert {key: env[key] for key in PATRONI_PASSWORDS} == PATRONI_PASSWORDS
        assert env["POSTGRES_DB"] == PRODUCTION_DATABASE
        assert env["POSTGRES_USER"] == "${POSTGRES_USER}"
        assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD}"
        assert set(service["depends_on"]) == set(ETCD_MEMBERS)
        assert "http://localhost:8008/health" in " ".join(service["healthcheck"]["test"])


def test_the_image_runs_patroni_on_the_mounted_config_and_has_the_bootstrap_hook() -> None:
    directory = ROOT / "infrastructure" / "patroni"
    dockerfile = (directory / "Dockerfile").read_text()
    assert "FROM postgres:15-bookworm" in dockerfile
    assert "patroni[etcd3,psycopg3]==" in dockerfile
    assert "\nUSER postgres\n" in dockerfile
    assert "&& exec patroni /etc/patroni/patroni.yml" in dockerfile  # Patroni replaces the shell: PID 1
    assert f"post-bootstrap.sh {PATRONI_POST_BOOTSTRAP}" in dockerfile
    hook = (directory / "post-bootstrap.sh").read_text()
    assert hook.startswith("#!/bin/sh\n")
    assert "SET log_statement = 'none'" in hook  # the CREATE ROLE's password stays out of the log
    assert "stanza-create" in hook  # WAL archiving works from the first segment


def test_the_patroni_configs_share_one_cluster_and_its_settings() -> None:
    configs = _patroni_configs()
    expected_parameters = {
        key: value for key, value in PRODUCTION_SETTINGS.items() if key not in PATRONI_OWNED
    }
    for node, config in configs.items():
        assert config["name"] == node
        assert config["restapi"]["connect_address"] == f"{node}:8008"
        assert config["postgresql"]["connect_address"] == f"{node}:5432"
        assert config["postgresql"]["data_dir"] == PATRONI_DATA_DIR
        assert config["etcd3"]["hosts"] == [f"{name}:2379" for name in ETCD_MEMBERS]
        assert config["bootstrap"]["post_bootstrap"] == PATRONI_POST_BOOTSTRAP
        dcs = config["bootstrap"]["dcs"]
        assert dcs["synchronous_mode"] is True
        # A leader must survive one slow etcd round: Patroni's own rule for these three values.
        assert dcs["ttl"] >= dcs["loop_wait"] + 2 * dcs["retry_timeout"]
        assert dcs["postgresql"]["use_pg_rewind"] is True
        assert dcs["postgresql"]["parameters"] == expected_parameters
        hba = config["postgresql"]["pg_hba"]
        # The app role, the ops kit's administrator in app containers: its scratch databases too.
        assert f"host all {PRODUCTION_APP_USER} {NETWORK_SUBNET} scram-sha-256" in hba
        assert f"host replication replicator {NETWORK_SUBNET} scram-sha-256" in hba
        # A standby's Patroni reads its own server's timeline over replication, from loopback.
        assert "host replication replicator 127.0.0.1/32 scram-sha-256" in hba
        # pg_rewind reaches the new leader as the superuser from the other node, to `postgres` only.
        assert f"host postgres postgres {NETWORK_SUBNET} scram-sha-256" in hba
        assert all(rule.split()[-1] == "scram-sha-256" for rule in hba)
    first, second = configs.values()
    assert first["bootstrap"] == second["bootstrap"] and first["scope"] == second["scope"]


def test_the_patroni_configs_hold_no_password() -> None:
    def keys(value: object) -> list[str]:
        if isinstance(value, dict):
            return [str(key) for key in value] + [k for item in value.values() for k in keys(item)]
        if isinstance(value, list):
            return [k for item in value for k in keys(item)]
        return []

    for node, config in _patroni_configs().items():
        assert not [key for key in keys(config) if key.lower().endswith("password")], node
        for section in config["postgresql"]["authentication"].values():
            assert set(section) == {"username"}, node
        assert set(config["restapi"]["authentication"]) == {"username"}, node


def test_compose_points_the_apps_at_whichever_node_is_primary() -> None:
    services = _services()
    for name in APPS:
        env = services[name]["environment"]
        assert env["NEURMATIC_INSTANCE"] == name
        assert "@postgres-1:5432,postgres-2:5432/" in env["DATABASE_URL"]
        assert env["DATABASE_URL"].endswith("target_session_attrs=read-write")
        assert "@postgres-1:5432,postgres-2:5432/" in env["DATABASE_REPLICA_URL"]
        assert env["DATABASE_REPLICA_URL"].endswith("target_session_attrs=prefer-standby")
        assert env["NEURMATIC_PATRONI_URLS"] == "http://postgres-1:8008,http://postgres-2:8008"
        assert env["PATRONI_RESTAPI_PASSWORD"] == "${PATRONI_RESTAPI_PASSWORD}"
        assert env["REDIS_SENTINELS"] == "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"
        assert set(DATABASE_NODES) <= set(services[name]["depends_on"])
    assert services["worker"]["command"] == ["worker"]  # the image's entry point is `tini -- neurmatic`


def test_the_env_file_names_the_same_nodes_as_compose() -> None:
    lines = production_env_file(api_url="https://api.example.com", frontend_url="https://example.com")
    values = dict(line.split("=", 1) for line in lines.splitlines() if line and not line.startswith("#"))
    env = _services()["backend-1"]["environment"]
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URL"):
        ours, compose = urlsplit(values[name]), urlsplit(env[name])
        assert ours.netloc.rpartition("@")[2] == compose.netloc.rpartition("@")[2]  # the same hosts
        assert (ours.path, ours.query) == (compose.path, compose.query)
    assert values["NEURMATIC_PATRONI_URLS"] == env["NEURMATIC_PATRONI_URLS"]
    assert values["POSTGRES_USER"] == PRODUCTION_APP_USER  # the role pg_hba admits


def test_compose_mounts_only_configs_that_the_project_renders() -> None:
    rendered = production_files()
    services = yaml.safe_load(rendered["docker-compose.production.yml"])["services"]
    sources = {
        volume.split(":")[0].removeprefix("./")
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./infrastructure/")
        # TLS material and Grafana's dashboards and provisioning are files an operator or author adds.
        and not volume.startswith(("./infrastructure/nginx/ssl", "./infrastructure/grafana/"))
    }
    assert {f"infrastructure/patroni/{node}.yml" for node in DATABASE_NODES} <= sources
    assert sources <= set(rendered), sources - set(rendered)
    for name in ("redis-master", "redis-replica"):
        command = services[name]["command"]
        assert command[:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"], name
        assert command[command.index("--requirepass") + 1] == "${REDIS_PASSWORD}", name
    for service in services.values():
        build = service.get("build")
        if isinstance(build, str):
            assert (ROOT / build / "Dockerfile").is_file()
        elif build is not None:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_every_password_in_compose_is_interpolated() -> None:
    for name, service in _services().items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${") and str(value).endswith("}"), f"{name}: {key}"


def test_the_standby_seeding_and_bare_postgres_are_gone() -> None:
    text = render_compose()
    for leftover in ("seed-standby", "--slot=replica_1", "postgres-replica", "hba_file", "@postgres:"):
        assert leftover not in text, leftover
