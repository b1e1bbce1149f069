"""An API instance of several uvicorn worker processes (WEB_CONCURRENCY): its metrics add up every
worker, and stopping or killing the instance leaves no worker behind.

The session topology runs two workers per instance (tests/conftest.py). These tests use backend-2;
test_topology.py crashes backend-1.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.process import is_running
from neurmatic.supervisor.services.app import ApiInstance
from neurmatic.supervisor.topology import Topology
from tests.conftest import RunningTopology
from tests.support import port_is_free
from tests.upstreams import admin_headers

LIVE = "/api/v1/health/live"


def _instance(topology: RunningTopology) -> ApiInstance:
    return Topology(topology.state).apis[1]


def _workers(manager: int) -> list[psutil.Process]:
    """uvicorn's workers: the manager's multiprocessing spawn children (not its resource tracker)."""
    return [p for p in psutil.Process(manager).children() if "spawn_main" in " ".join(p.cmdline())]


def _configured_workers(topology: RunningTopology) -> int:
    return int(read_env_file(topology.state_dir / "app.env")["WEB_CONCURRENCY"])


def _scrape(api: ApiInstance) -> dict[str, float]:
    """The instance's scrape endpoint, asked directly (an internal peer), summed by sample name+route."""
    text = httpx.get(f"http://{HOST}:{api.port}/internal/metrics", timeout=10).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + (f" {sample.labels['route']}" if "route" in sample.labels else "")
            values[key] = values.get(key, 0) + sample.value
    return values


def _live_requests(api: ApiInstance, count: int) -> None:
    for _ in range(count):  # a new connection each: whichever worker accepts it serves it
        assert httpx.get(f"http://{HOST}:{api.port}{LIVE}", timeout=5).status_code == 200


def _await(condition: Callable[[], object], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.2)


def test_a_scrape_of_any_worker_counts_the_requests_of_every_worker(topology: RunningTopology) -> None:
    api, _, workers = _running_instance(topology)
    assert len(workers) == _configured_workers(topology) >= 2
    before = _scrape(api)
    each = 5
    for serving in workers:  # every worker serves alone in turn: the others are frozen (SIGSTOP)
        others = [w for w in workers if w.pid != serving.pid]
        for other in others:
            other.suspend()
        try:
            _live_requests(api, each)
        finally:
            for other in others:
                other.resume()
    after = _scrape(api)
    key = f"neurmatic_http_requests_total {LIVE}"
    assert after[key] - before.get(key, 0) == each * len(workers)
    # Each worker counted its own share in its own file; the scrape merged them.
    counted = {int(path.stem.rpartition("_")[2]) for path in api.metrics_dir.glob("counter_*.db")}
    assert {w.pid for w in workers} <= counted
    assert after["neurmatic_api_worker_processes"] == len(workers)
    assert after["neurmatic_http_requests_in_progress"] >= 1  # the scrape itself, in one worker
    assert after["process_cpu_seconds_total"] > 0 and after["process_resident_memory_bytes"] > 0
    assert after["neurmatic_redis_up"] == 1


def _running_instance(topology: RunningTopology) -> tuple[ApiInstance, int, list[psutil.Process]]:
    """The instance under test, its manager's pid and its workers."""
    api = _instance(topology)
    manager = api.running_pid()
    assert manager is not None
    return api, manager, _workers(manager)


def test_stopping_an_instance_stops_its_workers_gracefully_and_it_starts_again(
    topology: RunningTopology,
) -> None:
    api, manager, workers = _running_instance(topology)
    _live_requests(api, 20)
    counted = _scrape(api)[f"neurmatic_http_requests_total {LIVE}"]
    started = time.monotonic()
    api.stop()  # what `down` and a rolling deploy do: SIGTERM to the manager
    try:
        took = time.monotonic() - started
        assert took < api.stop_grace, f"the instance needed a SIGKILL ({took:.1f}s)"
        assert not is_running(manager)
        assert [w.pid for w in workers if is_running(w.pid)] == []
        assert port_is_free(api.port)
    finally:
        api.start()
        api.wait_ready()
    assert topology.status()["backend-2"]["state"] == "ready"
    assert len(_workers(api.running_pid() or 0)) == _configured_workers(topology)
    # A new run counts anew (the previous workers' files are gone), as a restarted process would.
    assert _scrape(api).get(f"neurmatic_http_requests_total {LIVE}", 0) < min(counted, 20)
    _await_nginx_routes_to_both(topology)


def test_workers_of_a_killed_manager_stop_and_the_watcher_restarts_the_instance(
    topology: RunningTopology,
) -> None:
    api, manager, workers = _running_instance(topology)
    os.kill(manager, signal.SIGKILL)  # the manager alone: its workers are told by the kernel
    _await(lambda: not any(is_running(w.pid) for w in workers), "the orphaned workers stopped", 15)

    def restarted() -> bool:
        backend = topology.status()["backend-2"]
        return backend["state"] == "ready" and backend["pid"] not in (None, manager)

    _await(restarted, "the watcher restarted backend-2")
    assert len(_workers(api.running_pid() or 0)) == _configured_workers(topology)
    _await_nginx_routes_to_both(topology)


def _await_nginx_routes_to_both(topology: RunningTopology) -> None:
    """Leave the topology as found: nginx rests an upstream that failed for fail_timeout (30 s)."""
    admin = admin_headers(topology)  # the health report names the instance to administrators
    served: set[str] = set()
    deadline = time.monotonic() + 60
    with topology.client() as client:
        while served != {"backend-1", "backend-2"}:
            assert time.monotonic() < deadline, f"nginx routes only to {served}"
            served.add(client.get("/api/v1/health", headers=admin).json()["data"]["instance"])
            time.sleep(0.2)
