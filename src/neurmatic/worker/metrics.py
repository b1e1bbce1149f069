"""The worker's own ``/metrics`` (``neurmatic worker --metrics-address HOST:PORT``), scraped by Prometheus.

The job counts per queue and outcome live in Redis, where every API instance exposes them; what only the
worker process can tell is that it runs, when it last reached Redis with its heartbeat and how often its
RQ loop had to start over (a Redis outage). Its process figures (CPU, memory, descriptors) come with it.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.started = Gauge(
            "neurmatic_worker_start_time_seconds", "When this worker process started", registry=self.registry
        )
        self.heartbeat = Gauge(
            "neurmatic_worker_last_heartbeat_timestamp_seconds",
            "When this worker last wrote its heartbeat to Redis (0: never)",
            registry=self.registry,
        )
        self.restarts = Counter(
            "neurmatic_worker_loop_restarts",
            "Times the worker's RQ loop started over after losing Redis",
            registry=self.registry,
        )
        self.started.set(time.time())

    def serve(self, address: str) -> None:
        """Expose the metrics on ``host:port`` from a daemon thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0", registry=self.registry)


def parse_address(value: str) -> str:
    """``host:port`` with a port number, or ValueError saying what is expected."""
    _, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9400)")
    return value
