"""``neurmatic top``: the figures read from a real Prometheus scraping a real exporter.

The exporter (prometheus_client, in this process) serves what an API instance serves: requests with
their statuses and durations, queue depth and the last backup's time; a second job points at a port
nothing listens on, so ``up`` has a service down. Prometheus scrapes every second and holds one alert
rule, and listens where the local topology's does (``Ports.prometheus`` of a state directory).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.supervisor.state import TopologyState
from tests.mailbox import free_port
from tests.monitoring_servers import running_prometheus
from tests.support import ROOT, neurmatic, never_started_state

BACKUP_AGE = 3600.0
RULES = """\
groups:
  - name: test
    rules:
      - alert: QueueDeep
        expr: max by (queue) (neurmatic_queue_depth) > 5
        labels:
          severity: warning
        annotations:
          summary: "queue {{ $labels.queue }} holds {{ $value }} jobs"
"""


@dataclass(frozen=True)
class Watched:
    state_dir: Path
    url: str
    api_instance: str
    worker_instance: str
    redis_exporter: str


def _serve_metrics(stop: threading.Event) -> int:
    """An API instance's metrics on a free port: ~100 requests a second, one in eleven a 500."""
    registry = CollectorRegistry()
    requests = Counter("neurmatic_http_requests_total", "", ["method", "route", "status"], registry=registry)
    latency = Histogram(
        "neurmatic_http_request_duration_seconds",
        "",
        ["method", "route"],
        buckets=(0.025, 0.05, 0.1, 0.5),
        registry=registry,
    )
    Gauge("neurmatic_queue_depth", "", ["queue"], registry=registry).labels("email").set(7)
    backup = Gauge("neurmatic_backup_last_success_timestamp_seconds", "", registry=registry)
    backup.set(time.time() - BACKUP_AGE)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)

    def traffic() -> None:
        while not stop.wait(0.1):
            requests.labels("GET", "/api/v1/articles", "200").inc(10)
            requests.labels("GET", "/api/v1/articles", "500").inc(1)
            for _ in range(11):
                latency.labels("GET", "/api/v1/articles").observe(0.04)

    threading.Thread(target=traffic, daemon=True).start()
    return port


def _serve_dead_redis() -> int:
    """A Redis exporter's answer when its server is down: scraped (``up`` 1), ``redis_up`` 0."""
    registry = CollectorRegistry()
    Gauge("redis_up", "", registry=registry).set(0)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)
    return port


WINDOW = "5s"  # rates over the test's few seconds (a 1m rate of 6 s of samples would read a tenth)


def _ready(url: str) -> bool:
    """Prometheus holds a whole window of the API's scrapes (and a margin), and the rule fires."""
    query = 'count_over_time(up{job="api"}[6s]) >= 5'
    scrapes = httpx.get(f"{url}/api/v1/query", params={"query": query})
    alerts = httpx.get(f"{url}/api/v1/alerts").json()["data"]["alerts"]
    return bool(scrapes.json()["data"]["result"]) and any(a["state"] == "firing" for a in alerts)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    state_dir = never_started_state(tmp_path_factory, "top")
    workdir = tmp_path_factory.mktemp("prometheus")
    stop = threading.Event()
    api = f"127.0.0.1:{_serve_metrics(stop)}"
    worker = f"127.0.0.1:{free_port()}"  # nothing listens: the worker is down
    redis = f"127.0.0.1:{_serve_dead_redis()}"  # scraped fine, but its exporter cannot reach Redis
    (workdir / "rules.yml").write_text(RULES)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(workdir / "rules.yml")],
        "scrape_configs": [
            {"job_name": "api", "static_configs": [{"targets": [api]}]},
            {"job_name": "worker", "static_configs": [{"targets": [worker]}]},
            {"job_name": "redis", "static_configs": [{"targets": [redis]}]},
        ],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = TopologyState.load(state_dir).ports.prometheus
    try:
        with running_prometheus(workdir / "prometheus.yml", workdir, port) as url:
            deadline = time.monotonic() + 20
            while not _ready(url):
                assert time.monotonic() < deadline, "Prometheus had no rate or no firing alert in 20 s"
                time.sleep(0.2)
            yield Watched(state_dir, url, api, worker, redis)
    finally:
        stop.set()


def _top(watched: Watched, *args: str) -> subprocess.CompletedProcess[str]:
    where = ["--state-dir", str(watched.state_dir)]
    return neurmatic("top", *args, "--window", WINDOW, *where, check=False, timeout=60)


def test_the_json_snapshot_holds_prometheus_figures(watched: Watched) -> None:
    result = _top(watched, "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    snapshot: dict[str, Any] = json.loads(result.stdout)
    assert snapshot["prometheus_url"] == watched.url
    targets = {(t["job"], t["instance"]): t["up"] for t in snapshot["targets"]}
    assert targets == {
        ("api", watched.api_instance): True,
        ("worker", watched.worker_instance): False,
        ("redis", watched.redis_exporter): False,  # the exporter answers, its server does not
    }
    [api] = snapshot["api"]
    assert api["instance"] == watched.api_instance
    assert 50 < api["requests_per_second"] < 130, api  # 110 a second at most, give or take extrapolation
    assert abs(api["error_ratio"] - 1 / 11) < 0.02, api
    assert 0.025 < api["p95_seconds"] <= 0.05, api  # every request took 40 ms: the (25 ms, 50 ms] bucket
    assert snapshot["queue_depth"] == {"email": 7.0}
    assert abs(snapshot["backup_age_seconds"] - BACKUP_AGE) < 60
    assert snapshot["standbys"] == [] and snapshot["redis"] == []  # no such exporter: no figure
    assert snapshot["replica_lag_seconds"] is None
    [alert] = snapshot["alerts"]
    assert (alert["name"], alert["severity"]) == ("QueueDeep", "warning")
    assert alert["summary"] == "queue email holds 7 jobs" and alert["since"]


def test_once_prints_one_frame_with_every_service(watched: Watched) -> None:
    result = neurmatic("top", "--once", "--prometheus-url", watched.url, check=False, timeout=60)
    assert result.returncode == ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    assert "1/3 targets up" in lines[0] and "1 alert firing" in lines[0]
    assert any(line.split()[:3] == ["worker", watched.worker_instance, "down"] for line in lines)
    assert any(line.split()[:3] == ["api", watched.api_instance, "up"] for line in lines)
    assert any(line.split()[:2] == ["queue", "email"] and "7" in line for line in lines)
    assert any("1 h 0 min ago" in line for line in lines if "last good backup" in line)
    assert any(line.startswith("QueueDeep") and "queue email holds 7 jobs" in line for line in lines)


def test_the_live_view_ends_cleanly_on_ctrl_c(watched: Watched) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "neurmatic", "top", "--interval", "0.3", "--prometheus-url", watched.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    # Ctrl-C once the live view runs (it has asked Prometheus), not while Python still imports.
    port = int(watched.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 30
    while not any(
        c.raddr and c.raddr.port == port for c in psutil.Process(process.pid).net_connections("tcp")
    ):
        assert time.monotonic() < deadline and process.poll() is None, "top never asked Prometheus"
        time.sleep(0.1)
    time.sleep(1)  # a few refreshes
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == ExitCode.OK, stderr
    assert "targets up" in stdout and "Traceback" not in stderr


def test_an_unreachable_prometheus_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = neurmatic("top", "--once", "--prometheus-url", url, check=False, timeout=60)
    assert result.returncode == ExitCode.MONITORING_UNAVAILABLE, result.stderr
    assert f"Prometheus at {url} did not answer" in result.stderr and "neurmatic up" in result.stderr
