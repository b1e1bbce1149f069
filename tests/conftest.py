"""The real local production topology, started once per test session on free loopback ports."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from neurmatic.adapters.patroni import PatroniApi
from neurmatic.private_files import read_env_file
from neurmatic.settings import Settings
from neurmatic.supervisor.services.postgres import patroni_api
from neurmatic.supervisor.state import TopologyState
from tests.support import free_base_port, make_state_parent, neurmatic, require_binary


@dataclass
class RunningTopology:
    state_dir: Path

    @property
    def state(self) -> TopologyState:
        return TopologyState.load(self.state_dir)

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.state.ports.https}"

    @property
    def ca(self) -> Path:
        return self.state_dir / "tls" / "ca.pem"

    def client(self, **kwargs: Any) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca))
        kwargs.setdefault("timeout", 10)
        return httpx.Client(base_url=self.https_url, verify=context, **kwargs)

    def status(self) -> dict[str, dict[str, Any]]:
        out = json.loads(neurmatic("status", "--json", state_dir=self.state_dir, check=False).stdout)
        return {service["name"]: service for service in out["services"]}

    def superuser(self, database: str = "postgres", node: int = 1) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit administrator connection to postgres-``node`` (1 is the primary, 2 the standby,
        unless a test swapped them)."""
        state = self.state
        return psycopg.connect(
            host="127.0.0.1",
            port=state.ports.postgres(node),
            user="postgres",
            dbname=database,
            password=state.secrets["POSTGRES_SUPERUSER_PASSWORD"],
            autocommit=True,
        )

    @contextmanager
    def patroni_paused(self) -> Iterator[None]:
        """Patroni's maintenance mode while the block runs. A test that pauses a standby's WAL replay
        needs it: outside it, Patroni resumes a paused replay on its next cycle (about a second)."""
        apis = [patroni_api(self.state, node) for node in (1, 2)]
        _set_patroni_pause(apis, True)
        try:
            yield
        finally:
            _set_patroni_pause(apis, False)

    def app_settings(self) -> Settings:
        return Settings.from_mapping(read_env_file(self.state_dir / "app.env"))


def _set_patroni_pause(apis: list[PatroniApi], paused: bool) -> None:
    reply = apis[0].send("PATCH", "/config", {"pause": paused})
    assert reply.status == 200, f"Patroni refused pause={paused}: {reply.status} {reply.text}"
    deadline = time.monotonic() + 15
    while any(bool(api.node().get("pause")) != paused for api in apis):
        assert time.monotonic() < deadline, f"Patroni's members did not all report pause={paused}"
        time.sleep(0.2)


@pytest.fixture(scope="session")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    for binary, candidates in (("nginx", ["/usr/sbin/nginx"]), ("redis-server", []), ("etcd", [])):
        require_binary(binary, *candidates)
    require_binary("initdb", *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")))
    with started_topology(tmp_path_factory, "topology") as running:
        yield running


@contextmanager
def started_topology(
    factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None
) -> Iterator[RunningTopology]:
    """A topology of its own on free ports, always brought down, even when `up` stops half-way;
    ``env`` is given to `up` (e.g. the S3 repository's settings)."""
    state_dir = make_state_parent(factory, name) / "state"
    try:
        # Two uvicorn workers per instance whatever the machine's cores, so every test that goes
        # through an instance meets several workers (metrics, WebSockets, stop and restart).
        neurmatic(
            "up",
            "--base-port",
            str(free_base_port()),
            "--web-concurrency",
            "2",
            state_dir=state_dir,
            timeout=600,
            env=env,
        )
        yield RunningTopology(state_dir)
    finally:
        neurmatic("down", state_dir=state_dir, check=False, timeout=300)


_seconds_by_module: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    _seconds_by_module[module] = _seconds_by_module.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Seconds per module (setup, call and teardown), the slowest first: what CI's lanes are balanced on."""
    if not _seconds_by_module:
        return
    terminalreporter.section("seconds per module (slowest 25)")
    for module, seconds in sorted(_seconds_by_module.items(), key=lambda item: -item[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}s  {module}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support import remove_state_parents

    remove_state_parents()
