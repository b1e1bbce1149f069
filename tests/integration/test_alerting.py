"""Alerts end to end on the real topology: an API instance stopped → Prometheus fires TargetDown,
Alertmanager holds it and mails the operators (the topology's mail catcher), and it resolves once the
instance is back; Redis filled towards maxmemory → RedisMemoryNearMaxmemory fires. Both faults are
injected together so the rules' ``for:`` (1 and 2 minutes) run out side by side. The times from the fault
to the alert in Alertmanager and to the mail are printed (``-s``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from neurmatic.adapters.probes import redis_call, redis_info
from neurmatic.supervisor.layout import HOST, MONITORING_USER
from neurmatic.supervisor.topology import Topology
from tests.conftest import RunningTopology

pytestmark = pytest.mark.topology
FILLER = "test:alerting:filler:"
CHUNK = b"x" * (1024 * 1024)
ALERT_TIMEOUT = 240.0  # for: 2m, a 15 s scrape and evaluation, Alertmanager's 30 s group_wait, a loaded CI


def _monitoring_get(topology: RunningTopology, port: int, path: str) -> Any:
    """A JSON answer of the topology's Prometheus or Alertmanager, as its operator (basic auth)."""
    auth = (MONITORING_USER, topology.state.secrets["MONITORING_PASSWORD"])
    reply = httpx.get(f"http://{HOST}:{port}{path}", auth=auth, timeout=5)
    reply.raise_for_status()
    return reply.json()


def _active_alerts(topology: RunningTopology) -> list[dict[str, Any]]:
    path = "/api/v2/alerts?active=true&silenced=false&inhibited=false"
    alerts: list[dict[str, Any]] = _monitoring_get(topology, topology.state.ports.alertmanager, path)
    return alerts


def _wait(what: str, check: Callable[[], bool], since: float, timeout: float = ALERT_TIMEOUT) -> float:
    """Seconds from ``since`` (monotonic) until ``check()`` held, polled every second; fails with
    ``what`` once ``timeout`` seconds have passed since ``since``."""
    while not check():
        assert time.monotonic() - since < timeout, f"{what}: not within {timeout:g}s"
        time.sleep(1)
    return time.monotonic() - since


def _redis_master(topology: RunningTopology) -> redis.Redis:
    state = topology.state
    password = state.secrets["REDIS_PASSWORD"]
    for index in (1, 2):
        port = state.ports.redis(index)
        (info,) = redis_call(HOST, port, password, ("INFO", "replication"))
        if redis_info(info).get("role") == "master":
            return redis.Redis(host=HOST, port=port, password=password)
    raise AssertionError("no Redis master")


def _fill(client: redis.Redis, fraction: float) -> int:
    """Write 1 MiB values until Redis uses ``fraction`` of its maxmemory; how many were written."""
    maximum = int(str(client.config_get("maxmemory")["maxmemory"]))
    written = 0
    while int(client.info("memory")["used_memory"]) < fraction * maximum:
        pipeline = client.pipeline(transaction=False)
        for _ in range(16):
            pipeline.set(f"{FILLER}{written}", CHUNK)
            written += 1
        pipeline.execute()
    return written


def _mails_about(mail_dir: Path, alert: str, instance: str) -> list[str]:
    texts = [path.read_text(errors="replace") for path in mail_dir.glob("*.eml")]
    return [text for text in texts if alert in text and instance in text]


def test_a_stopped_instance_and_a_full_redis_alert_the_operators(topology: RunningTopology) -> None:
    state = topology.state
    backend = Topology(state).service("backend-2")
    instance = f"{HOST}:{state.ports.api(2)}"
    mail_dir = topology.state_dir / "mail"
    client = _redis_master(topology)

    def firing(name: str, **labels: str) -> bool:
        return any(
            a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())
            for a in _active_alerts(topology)
        )

    backend.stop()
    stopped = time.monotonic()
    try:
        filled = _fill(client, 0.93)
        full = time.monotonic()
        to_alert = _wait(
            "TargetDown of the stopped instance", lambda: firing("TargetDown", instance=instance), stopped
        )
        to_mail = _wait("its mail", lambda: bool(_mails_about(mail_dir, "TargetDown", instance)), stopped)
        to_redis_alert = _wait("RedisMemoryNearMaxmemory", lambda: firing("RedisMemoryNearMaxmemory"), full)
    finally:
        for start in range(0, 4096, 256):
            client.delete(*(f"{FILLER}{i}" for i in range(start, start + 256)))
        backend.ensure_running()
    mail = _mails_about(mail_dir, "TargetDown", instance)[0]
    assert "Subject: [FIRING:1] TargetDown" in mail and "To: operators@localhost" in mail
    assert "docs/operations.md#alert-target-down" in mail.replace("=\n", "")  # quoted-printable folds
    print(
        f"\nTargetDown in Alertmanager {to_alert:.0f}s after the stop, its mail after {to_mail:.0f}s;"
        f" RedisMemoryNearMaxmemory {to_redis_alert:.0f}s after Redis reached 93% ({filled} MiB written)"
    )
    restarted = time.monotonic()
    resolved = _wait("TargetDown resolved", lambda: not firing("TargetDown", instance=instance), restarted)
    print(f"TargetDown resolved {resolved:.0f}s after the instance was back")


# Present only once something happened: a backup attempt failed (the record is written then).
ABSENT_UNTIL_EVENT = {"neurmatic_backup_last_failure_timestamp_seconds"}


def test_every_metric_the_rules_read_is_scraped_from_the_running_exporters(topology: RunningTopology) -> None:
    """The rules name real series: every metric an expression reads is one the running topology's
    exporters, Patroni, the API or the worker export (or a recording rule's output)."""
    import re

    import yaml

    from tests.support import ROOT

    rules = yaml.safe_load((ROOT / "infrastructure/prometheus/rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
    exprs = re.sub(r'"[^"]*"', "", exprs)  # label values are not metric names
    prefixes = ("node_", "pg_", "redis_", "nginx_", "probe_", "neurmatic_", "patroni_")
    named = {m for m in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", exprs) if m.startswith(prefixes) or m == "up"}
    port = topology.state.ports.prometheus

    def missing() -> set[str]:
        scraped = set(_monitoring_get(topology, port, "/api/v1/label/__name__/values")["data"])
        return named - recorded - ABSENT_UNTIL_EVENT - scraped

    deadline = time.monotonic() + 60  # a topology just up: the first scrapes (every 5 s) come in
    while missing() and time.monotonic() < deadline:
        time.sleep(2)
    assert missing() == set()
    assert len(named) > 20  # the extraction found the rules' metrics


def test_prometheus_and_alertmanager_answer_only_their_operators(topology: RunningTopology) -> None:
    """Silences, quitting, the data: not for whoever reaches the loopback port; and the Redis exporter
    sends its password only to the servers it knows."""
    import socket
    import threading

    ports = topology.state.ports
    for port, path in (
        (ports.prometheus, "/api/v1/query?query=up"),
        (ports.alertmanager, "/api/v2/silences"),
    ):
        assert httpx.get(f"http://{HOST}:{port}{path}", timeout=5).status_code == 401
        assert httpx.post(f"http://{HOST}:{port}/-/quit", timeout=5).status_code in (401, 403, 404, 405)
        _monitoring_get(topology, port, path)  # the operator's credentials work
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        listener.settimeout(10)
        received: list[bytes] = []

        def accept() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(3)
                with contextlib.suppress(OSError):
                    received.append(connection.recv(4096))

        thread = threading.Thread(target=accept)
        thread.start()
        target = f"redis://{HOST}:{listener.getsockname()[1]}"
        httpx.get(f"http://{HOST}:{ports.redis_exporter}/scrape", params={"target": target}, timeout=10)
        thread.join(timeout=15)
    assert received and b"AUTH" not in b"".join(received), received
