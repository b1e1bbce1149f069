"""The production compose file carries the monitoring: Prometheus, Alertmanager, Grafana and the exporters,
pinned, reachable from the host's loopback only, every scrape target a service of the compose network,
every exporter's secret a variable that ``neurmatic secrets generate`` writes."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from neurmatic.ops.flows.env_file import production_env_file
from neurmatic.render.compose import NETWORK_SUBNET, NGINX_STATUS_PORT
from neurmatic.render.production import production_files
from neurmatic.render.redis_acl import REDIS_METRICS_ACL, SENTINEL_METRICS_ACL

MONITORING_SERVICES = {
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "postgres-exporter-1",
    "postgres-exporter-2",
    "redis-exporter",
    "nginx-exporter",
    "blackbox-exporter",
}
PINNED_TAG = re.compile(r":v?\d+\.\d+\.\d+(-alpine)?$")
VARIABLE = re.compile(r"\$\{(\w+)(:-[^}]*)?\}")


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(production_files()["docker-compose.production.yml"])
    return compose


def _scrape_addresses() -> list[tuple[str, str]]:
    """(job, address) of everything Prometheus connects to: targets, multi-target exporters, the
    Alertmanagers, and the hosts a multi-target exporter is asked to reach (its ``target`` parameter)."""
    config = yaml.safe_load(production_files()["infrastructure/prometheus/prometheus.yml"])
    found = [
        ("alerting", target)
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            found += [(job["name"] if "name" in job else job["job_name"], t) for t in static["targets"]]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":
                found.append((job["job_name"], relabel["replacement"]))
    return found


def _host(address: str) -> str:
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname
    assert host, address
    return host


def test_every_monitoring_service_runs_a_pinned_image_on_the_compose_network() -> None:
    services = _compose()["services"]
    assert set(services) >= MONITORING_SERVICES
    for name in MONITORING_SERVICES:
        service = services[name]
        assert PINNED_TAG.search(service["image"]), f"{name}: {service['image']} is not pinned"
        assert service["networks"] == ["neurmatic"], name
        assert service["logging"] == services["nginx"]["logging"], name


def test_no_monitoring_port_is_published_beyond_the_hosts_loopback() -> None:
    services = _compose()["services"]
    published = {name: service.get("ports", []) for name, service in services.items()}
    for name in MONITORING_SERVICES:
        for port in published[name]:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    assert published["prometheus"] == ["127.0.0.1:9090:9090"]
    assert published["alertmanager"] == ["127.0.0.1:9093:9093"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]
    # nginx's stub_status port stays on the compose network; only 80 and 443 face the world.
    assert published["nginx"] == ["80:80", "443:443"]
    assert not any(str(NGINX_STATUS_PORT) in str(port) for ports in published.values() for port in ports)


def test_every_scrape_target_is_a_service_of_the_compose_network() -> None:
    services = _compose()["services"]
    addresses = _scrape_addresses()
    jobs = {job for job, _ in addresses}
    assert {"api", "worker", "node", "postgres", "redis", "patroni", "nginx", "blackbox"} <= jobs
    for job, address in addresses:
        host = _host(address)
        if job == "prometheus":
            assert host == "localhost"  # Prometheus scrapes itself
            continue
        assert host in services, f"job {job}: {address} is no compose service"
        assert services[host]["networks"] == services["prometheus"]["networks"], address
    # The worker serves its metrics where the worker job scrapes them.
    worker = dict(addresses)["worker"]
    assert (
        services["worker"]["environment"]["NEURMATIC_WORKER_METRICS_ADDRESS"]
        == "0.0.0.0:" + worker.split(":")[1]
    )


def test_every_variable_compose_needs_is_one_secrets_generate_writes() -> None:
    """The exporters' and Grafana's passwords among them: a variable without a default that the generated
    env file lacks would reach the container empty."""
    text = production_files()["docker-compose.production.yml"]
    generated = {
        line.split("=", 1)[0]
        for line in production_env_file(
            api_url="https://a.example", frontend_url="https://b.example"
        ).splitlines()
        if "=" in line and not line.startswith("#")
    }
    needed = {match.group(1) for match in VARIABLE.finditer(text) if match.group(2) is None}
    assert {"METRICS_DB_PASSWORD", "METRICS_REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= needed
    assert needed <= generated, needed - generated
    optional = {match.group(1) for match in VARIABLE.finditer(text) if match.group(2) is not None}
    assert {"SLACK_WEBHOOK_URL", "SENDGRID_API_KEY"} <= optional & generated


def test_the_exporters_log_in_as_metrics_with_their_own_passwords() -> None:
    services = _compose()["services"]
    for index in (1, 2):
        dsn = urlsplit(services[f"postgres-exporter-{index}"]["environment"]["DATA_SOURCE_NAME"])
        assert (dsn.username, dsn.password) == ("metrics", "${METRICS_DB_PASSWORD}")
        assert dsn.hostname == f"postgres-{index}"
        assert services[f"postgres-{index}"]["environment"]["METRICS_DB_PASSWORD"] == "${METRICS_DB_PASSWORD}"
    redis = services["redis-exporter"]
    assert redis["environment"] == {"REDIS_USER": "metrics", "REDIS_PASSWORD": "${METRICS_REDIS_PASSWORD}"}
    assert redis["command"] == ["-redis.addr=", "-config-command=-"]
    for name in ("redis-master", "redis-replica"):
        command = services[name]["command"]
        user = command.index("--user")
        assert command[user + 1 : user + 4] == ["metrics", "on", ">${METRICS_REDIS_PASSWORD}"], name
        rules = command[user + 4 :]
        rules = rules[: next((i for i, word in enumerate(rules) if word.startswith("--")), len(rules))]
        assert " ".join(rules) == REDIS_METRICS_ACL, name
    sentinel_conf = production_files()["infrastructure/redis/sentinel.conf"]
    assert f"user metrics on >__METRICS_REDIS_PASSWORD__ {SENTINEL_METRICS_ACL}\n" in sentinel_conf
    for index in (1, 2, 3):
        sentinel = services[f"sentinel-{index}"]
        assert sentinel["environment"]["METRICS_REDIS_PASSWORD"] == "${METRICS_REDIS_PASSWORD}"
        assert '"s|__METRICS_REDIS_PASSWORD__|$$METRICS_REDIS_PASSWORD|g"' in sentinel["command"][2]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD}"
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_prometheus_and_the_exporters_mount_the_rendered_configs() -> None:
    services = _compose()["services"]
    rendered = production_files()
    prometheus = services["prometheus"]
    assert (
        "./infrastructure/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in prometheus["volumes"]
    )
    assert "./infrastructure/prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load(rendered["infrastructure/prometheus/prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    assert {"--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=2GB"} <= set(
        prometheus["command"]
    )
    volumes = _compose()["volumes"]
    for name in ("prometheus", "alertmanager", "grafana"):
        assert f"{name}_data" in volumes, name
    assert services["grafana"]["volumes"][:2] == [
        "./infrastructure/grafana/provisioning:/etc/grafana/provisioning:ro",
        "./infrastructure/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ]
    node = services["node-exporter"]
    assert node["pid"] == "host"
    assert {"/proc:/host/proc:ro", "/sys:/host/sys:ro", "/:/rootfs:ro,rslave"} == set(node["volumes"])
    blackbox = yaml.safe_load(rendered["infrastructure/prometheus/blackbox.yml"])
    # The probe reaches the edge as nginx:443; the certificate is the public host's.
    assert blackbox["modules"]["https_edge"]["tcp"]["tls_config"]["server_name"] == "api.neurmatic.com"


def test_nginx_serves_stub_status_to_the_compose_network_only() -> None:
    conf = production_files()["infrastructure/nginx/production.conf"]
    status = conf[conf.index(f"listen {NGINX_STATUS_PORT};") :]
    assert "stub_status;" in status
    assert status.index(f"allow {NETWORK_SUBNET};") < status.index("deny all;")
    assert "allow all" not in status
    exporter = _compose()["services"]["nginx-exporter"]
    assert exporter["command"] == [f"--nginx.scrape-uri=http://nginx:{NGINX_STATUS_PORT}/stub_status"]
