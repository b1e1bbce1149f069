"""The production compose file: the eleven services, their health checks and their wiring."""

from __future__ import annotations

import pytest
import yaml

from neurmatic.errors import ConfigurationError
from neurmatic.render.compose import render_compose

POSTGRES_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "512MB",
    "effective_cache_size": "2GB",
    "work_mem": "2621kB",
    "wal_level": "replica",
    "hot_standby": "on",
}
SERVICES = {
    "postgres",
    "postgres-replica",
    "redis-master",
    "redis-replica",
    "sentinel-1",
    "sentinel-2",
    "sentinel-3",
    "backend-1",
    "backend-2",
    "worker",
    "nginx",
}


def test_compose_has_the_eleven_services_each_with_a_healthcheck() -> None:
    compose = yaml.safe_load(render_compose(POSTGRES_SETTINGS))
    assert "version" not in compose
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    for index in (1, 2, 3):
        assert "redis-cli -p 26379" in services[f"sentinel-{index}"]["healthcheck"]["test"][1]
    assert "/api/v1/health/ready" in " ".join(services["backend-1"]["healthcheck"]["test"])
    assert "/api/v1/health/live" in services["nginx"]["healthcheck"]["test"][1]


def test_compose_feeds_the_same_postgres_settings_to_primary_and_standby() -> None:
    services = yaml.safe_load(render_compose(POSTGRES_SETTINGS))["services"]
    for name in ("postgres", "postgres-replica"):
        command = services[name]["command"]
        flags = {command[i + 1] for i, part in enumerate(command) if part == "-c"}
        assert {f"{key}={value}" for key, value in POSTGRES_SETTINGS.items()} <= flags, name


def test_compose_points_the_apps_at_whichever_server_is_primary() -> None:
    services = yaml.safe_load(render_compose(POSTGRES_SETTINGS))["services"]
    env = services["backend-2"]["environment"]
    assert env["NEURMATIC_INSTANCE"] == "backend-2"
    assert "@postgres:5432,postgres-replica:5432/" in env["DATABASE_URL"]
    assert env["DATABASE_URL"].endswith("target_session_attrs=read-write")
    assert env["DATABASE_REPLICA_URL"].endswith("target_session_attrs=prefer-standby")
    assert env["REDIS_SENTINELS"] == "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"
    assert services["worker"]["command"] == ["neurmatic", "worker"]


def test_compose_mounts_only_configs_that_the_project_renders() -> None:
    from neurmatic.render.production import production_files  # the other renders, same templates

    rendered = production_files()
    services = yaml.safe_load(rendered["docker-compose.production.yml"])["services"]
    sources = {
        volume.split(":")[0].removeprefix("./")
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./infrastructure/") and not volume.startswith("./infrastructure/nginx/ssl")
    }
    assert sources
    assert sources <= set(rendered), sources - set(rendered)
    for name in ("redis-master", "redis-replica"):
        command = services[name]["command"]
        assert command[:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"], name
        assert command[command.index("--requirepass") + 1] == "${REDIS_PASSWORD}", name


def test_compose_refuses_a_postgres_setting_that_would_break_the_command_line() -> None:
    with pytest.raises(ConfigurationError):
        render_compose({"shared_buffers": "512MB; rm -rf /"})
