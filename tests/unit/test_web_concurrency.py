"""WEB_CONCURRENCY: validated, sized to the machine by the topology, set by compose and the env file."""

from __future__ import annotations

import os

import pytest
import yaml

from neurmatic.errors import ConfigurationError
from neurmatic.ops.flows.env_file import production_env_file
from neurmatic.render.compose import render_compose
from neurmatic.settings import Settings
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import MAX_DEFAULT_WEB_CONCURRENCY, Topology, default_web_concurrency
from tests.support import free_base_port, make_state_parent, neurmatic


def test_a_bare_api_runs_one_process_and_fewer_than_one_is_refused_by_name() -> None:
    assert Settings.from_mapping({}).app.web_concurrency == 1
    assert Settings.from_mapping({"WEB_CONCURRENCY": "3"}).app.web_concurrency == 3
    for bad in ("0", "-2", "two"):
        with pytest.raises(ConfigurationError, match="WEB_CONCURRENCY"):
            Settings.from_mapping({"WEB_CONCURRENCY": bad})


def test_the_api_command_stops_on_a_bad_web_concurrency_before_serving() -> None:
    result = neurmatic("api", "--port", "1", check=False, env={"WEB_CONCURRENCY": "0"}, timeout=60)
    assert result.returncode != 0
    assert "WEB_CONCURRENCY" in result.stderr and "greater than or equal to 1" in result.stderr


def test_the_topology_sizes_workers_to_the_cores_unless_told(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_web_concurrency() == max(1, min(cores, MAX_DEFAULT_WEB_CONCURRENCY))
    state = TopologyState.create(make_state_parent(tmp_path_factory, "wc") / "s", base_port=free_base_port())
    env = Topology(state).app_environment()
    assert env["WEB_CONCURRENCY"] == str(default_web_concurrency())
    told = state.with_web_concurrency(3)
    assert TopologyState.load(state.paths.root).web_concurrency == 3  # kept for the next `up`
    env = Topology(told).app_environment()
    assert env["WEB_CONCURRENCY"] == "3"
    assert env["DATABASE_POOL_SIZE"] == "4"  # the instance's 10 connections shared by its workers
    assert Settings.from_mapping(env).app.web_concurrency == 3


def test_compose_and_the_production_env_file_set_it() -> None:
    services = yaml.safe_load(render_compose())["services"]
    for name in ("backend-1", "backend-2"):
        env = services[name]["environment"]
        assert env["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-2}"
        assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    assert "WEB_CONCURRENCY" not in services["worker"]["environment"]
    text = production_env_file(api_url="https://api.example.com", frontend_url="https://example.com")
    assert "\nWEB_CONCURRENCY=2\n" in text
