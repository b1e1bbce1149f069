"""The whole local production topology, as a new user brings it up. Tests run in file order: the last
ones stop and restart the topology."""

from __future__ import annotations

import os
import signal
import time

import psutil
import psycopg
import pytest

from neurmatic.adapters.redis import direct, sentinel_command
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.services.postgres import app_connection
from tests.conftest import RunningTopology
from tests.support import neurmatic, port_is_free
from tests.upstreams import admin_headers

EXPECTED_ROLES = {
    "postgres-1": "primary",
    "postgres-2": "standby",
    "redis-1": "master",
    "redis-2": "replica",
    "sentinel-1": "sentinel",
    "sentinel-2": "sentinel",
    "sentinel-3": "sentinel",
    "mail": "mail",
    "backend-1": "api",
    "backend-2": "api",
    "worker": "worker",
    "nginx": "lb",
    **dict.fromkeys(
        (
            "node-exporter",
            "postgres-exporter-1",
            "postgres-exporter-2",
            "redis-exporter",
            "nginx-exporter",
            "blackbox-exporter",
            "alertmanager",
            "prometheus",
        ),
        "monitoring",
    ),
}


def _app_conn(topology: RunningTopology, index: int) -> psycopg.Connection[tuple[object, ...]]:
    return app_connection(topology.state, index)


def test_status_json_lists_every_service_ready_with_its_role(topology: RunningTopology) -> None:
    services = topology.status()
    watcher = services.pop("watcher")
    assert watcher["state"] == "ready" and watcher["pid"] and "Patroni" in watcher["detail"]
    etcd = {name: services.pop(name)["role"] for name in ("etcd-1", "etcd-2", "etcd-3")}
    assert sorted(etcd.values()) == ["follower", "follower", "leader"], etcd
    assert {name: s["role"] for name, s in services.items()} == EXPECTED_ROLES
    # Patroni's own view of each PostgreSQL node: its role, state, timeline and the standby's lag.
    assert services["postgres-1"]["detail"].startswith("postgres-1 leader running timeline ")
    assert services["postgres-2"]["detail"].startswith("postgres-2 sync_standby streaming timeline ")
    assert services["postgres-2"]["detail"].endswith(" B")
    assert all(s["state"] == "ready" and s["pid"] for s in services.values()), services
    assert all(s["host"] == "127.0.0.1" for s in services.values())


@pytest.fixture(scope="module")
def admin(topology: RunningTopology) -> dict[str, str]:
    """The details of the health report go to administrators (and the internal network) only."""
    return admin_headers(topology)


def test_health_through_nginx_is_healthy_and_reaches_both_backends(
    topology: RunningTopology, admin: dict[str, str]
) -> None:
    instances = set()
    with topology.client() as client:
        public = client.get("/api/v1/health")
        for _ in range(12):
            response = client.get("/api/v1/health", headers=admin)
            assert response.status_code == 200
            data = response.json()["data"]
            instances.add(data["instance"])
    assert public.json()["data"] == {"status": "healthy"}
    assert data["status"] == "healthy", data
    components = data["components"]
    assert components["database"]["role"] == "primary"
    replica = components["database_replica"]
    assert replica["status"] == "up" and replica["role"] == "standby" and replica["streaming"] is True
    assert replica["replay_lag_seconds"] >= 0 and "replay_lag_bytes" in replica
    assert components["redis"] == components["redis"] | {
        "status": "up",
        "role": "master",
        "connected_replicas": 1,
    }
    assert components["sentinel"]["reachable"] == 3 and components["sentinel"]["quorum_ok"] is True
    assert components["queue"]["workers"] == 1
    patroni = components["patroni"]
    assert patroni["status"] == "up" and patroni["leader"] == "postgres-1" and patroni["paused"] is False
    roles = {m["name"]: (m["role"], m["state"]) for m in patroni["members"]}
    assert roles == {"postgres-1": ("leader", "running"), "postgres-2": ("sync_standby", "streaming")}
    assert all("latency_ms" in c for c in components.values())
    assert instances == {"backend-1", "backend-2"}


def test_public_health_body_leaks_no_secret_or_host(topology: RunningTopology) -> None:
    with topology.client() as client:
        body = client.get("/api/v1/health").text
    assert all(secret not in body for secret in topology.state.secrets.values())
    assert "127.0.0.1" not in body and "postgresql://" not in body


def test_https_only_except_health_and_security_headers_everywhere(topology: RunningTopology) -> None:
    http = f"http://127.0.0.1:{topology.state.ports.http}"
    import httpx

    redirect = httpx.get(f"{http}/api/v1/articles", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"{topology.https_url}/api/v1/articles"
    assert httpx.get(f"{http}/api/v1/health/live").status_code == 200
    with topology.client() as client:
        for path in ("/api/v1/health", "/api/v1/no-such-route", "/api/docs"):
            response = client.get(path)
            for header in (
                "strict-transport-security",
                "x-content-type-options",
                "x-frame-options",
                "content-security-policy",
                "referrer-policy",
            ):
                assert header in response.headers, (path, header)
            assert response.headers.get("x-request-id")
        missing = client.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "Not Found", "details": None},
    }


def test_health_responses_are_never_cached(topology: RunningTopology, admin: dict[str, str]) -> None:
    with topology.client() as client:
        uptimes = [client.get("/api/v1/health", headers=admin).json()["data"]["uptime"] for _ in range(2)]
        time.sleep(1.1)
        later = client.get("/api/v1/health", headers=admin).json()["data"]["uptime"]
        # The public's verdict is the same text every time, so its freshness shows in the headers: the
        # app forbids storing it, and it never passes through nginx's cache (which would add its status).
        public = [client.get(path) for path in ("/api/v1/health", "/api/v1/health/ready")]
    assert later > min(uptimes)
    for response in public:
        assert response.headers["cache-control"] == "no-store" and "x-cache-status" not in response.headers


def test_login_rate_limit_answers_429(topology: RunningTopology) -> None:
    # nginx's login zone (5 r/min, burst 5) is shared by every test that signs in through nginx from
    # 127.0.0.1, so only the outcome is asserted: a burst ends in 429s with the API's error body.
    with topology.client() as client:
        responses = [client.post("/api/v1/auth/login", json={}) for _ in range(12)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, [r.status_code for r in responses]
    assert limited[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert "strict-transport-security" in limited[-1].headers


def test_row_written_on_primary_is_readable_on_standby_within_seconds(topology: RunningTopology) -> None:
    marker = f"replication-{time.time_ns()}"
    with _app_conn(topology, 1) as primary, _app_conn(topology, 2) as standby:
        primary.execute("INSERT INTO system_events (kind, source) VALUES ('test', %s)", (marker,))
        written = time.monotonic()
        seen = None
        # Milliseconds when idle; the bound leaves room for a CI machine whose disk is busy.
        while time.monotonic() - written < 5.0:
            row = standby.execute("SELECT 1 FROM system_events WHERE source = %s", (marker,)).fetchone()
            if row:
                seen = time.monotonic() - written
                break
            time.sleep(0.01)
    assert seen is not None, "the row did not reach the standby within 5 seconds"
    print(f"replicated in {seen * 1000:.0f} ms")


def test_standby_refuses_writes(topology: RunningTopology) -> None:
    with _app_conn(topology, 2) as standby:
        try:
            standby.execute("INSERT INTO system_events (kind, source) VALUES ('test', 'x')")
        except psycopg.errors.ReadOnlySqlTransaction:
            return
    raise AssertionError("the standby accepted a write")


def test_sentinels_name_the_master_and_the_replica_link_is_up(topology: RunningTopology) -> None:
    state = topology.state
    for index in (1, 2, 3):
        sentinel = direct(HOST, state.ports.sentinel(index), state.secrets["REDIS_SENTINEL_PASSWORD"])
        assert sentinel_command(sentinel, "GET-MASTER-ADDR-BY-NAME", "mymaster") == [
            HOST,
            str(state.ports.redis(1)),
        ]
        sentinel.close()
    replica = direct(HOST, state.ports.redis(2), state.secrets["REDIS_PASSWORD"])
    info = replica.info("replication")
    replica.close()
    assert info["role"] == "slave" and info["master_link_status"] == "up"
    assert info["master_port"] == state.ports.redis(1)


def test_redis_requires_its_password(topology: RunningTopology) -> None:
    import redis

    client = direct(HOST, topology.state.ports.redis(1), None)
    try:
        client.ping()
    except redis.AuthenticationError:
        return
    finally:
        client.close()
    raise AssertionError("Redis answered without a password")


def test_a_stopped_sentinel_shows_in_health_and_up_brings_it_back(
    topology: RunningTopology, admin: dict[str, str]
) -> None:
    from neurmatic.supervisor.topology import Topology

    Topology(topology.state).service("sentinel-3").stop()
    with topology.client() as client:
        data = client.get("/api/v1/health", headers=admin).json()["data"]
    assert data["components"]["sentinel"]["reachable"] == 2
    assert data["status"] == "healthy"  # two of three still make the quorum
    neurmatic("up", state_dir=topology.state_dir)
    assert topology.status()["sentinel-3"]["state"] == "ready"


def test_second_up_leaves_running_services_alone(topology: RunningTopology) -> None:
    before = {name: s["pid"] for name, s in topology.status().items()}
    result = neurmatic("up", state_dir=topology.state_dir)
    assert "already running" in result.stderr
    assert {name: s["pid"] for name, s in topology.status().items()} == before


def test_sigkill_of_backend_1_loses_no_request_and_the_watcher_restarts_it(
    topology: RunningTopology, admin: dict[str, str]
) -> None:
    victim = int(topology.status()["backend-1"]["pid"])
    os.kill(victim, signal.SIGKILL)
    failures = 0
    with topology.client() as client:
        for _ in range(40):
            if client.get("/api/v1/health/ready").status_code != 200:
                failures += 1
    assert failures == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        backend = topology.status()["backend-1"]
        if backend["state"] == "ready" and backend["pid"] != victim:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the watcher did not bring backend-1 back: {backend}")
    # nginx counted the failures and rests backend-1 for fail_timeout (30 s) before sending it traffic.
    served: set[str] = set()
    deadline = time.monotonic() + 45
    with topology.client() as client:
        while served != {"backend-1", "backend-2"} and time.monotonic() < deadline:
            served.add(client.get("/api/v1/health", headers=admin).json()["data"]["instance"])
            time.sleep(0.2)
    assert served == {"backend-1", "backend-2"}


def test_sigkill_of_the_worker_is_repaired_by_the_watcher(topology: RunningTopology) -> None:
    victim = int(topology.status()["worker"]["pid"])
    os.kill(victim, signal.SIGKILL)
    restarts = topology.state_dir / "run" / "worker.restarts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker = topology.status()["worker"]
        # The watcher counts the restart once the new worker is ready: wait for both.
        if worker["state"] == "ready" and worker["pid"] != victim and restarts.exists():
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the watcher did not bring the worker back: {worker}")
    assert restarts.read_text() == "1"


def _processes_of(state_dir: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if state_dir in cmdline or (proc.info["cwd"] or "") == state_dir:
                found.append(f"{proc.pid} {cmdline}")
        except psutil.Error:
            continue
    return found


def test_down_stops_everything_and_up_finds_the_data_again(topology: RunningTopology) -> None:
    marker = f"persisted-{time.time_ns()}"
    with _app_conn(topology, 1) as primary:
        primary.execute("INSERT INTO system_events (kind, source) VALUES ('test', %s)", (marker,))
    state = topology.state
    neurmatic("down", state_dir=topology.state_dir)
    assert _processes_of(str(topology.state_dir)) == []
    assert all(port_is_free(port) for port in state.ports.all_ports())
    neurmatic("up", state_dir=topology.state_dir)
    with _app_conn(topology, 1) as primary:
        assert primary.execute("SELECT 1 FROM system_events WHERE source = %s", (marker,)).fetchone()
    with _app_conn(topology, 2) as standby:
        deadline = time.monotonic() + 10
        while not standby.execute("SELECT 1 FROM system_events WHERE source = %s", (marker,)).fetchone():
            assert time.monotonic() < deadline, "the standby did not catch up after restart"
            time.sleep(0.1)
    assert {name: s["state"] for name, s in topology.status().items()} == dict.fromkeys(
        [*EXPECTED_ROLES, "etcd-1", "etcd-2", "etcd-3", "watcher"], "ready"
    )


def test_one_content_security_policy_per_response_and_the_docs_keep_theirs(topology: RunningTopology) -> None:
    with topology.client() as client:
        docs = client.get("/api/docs")
        api = client.get("/api/v1/health")
        missing = client.get("/api/v1/no-such-route")
    assert len(docs.headers.get_list("content-security-policy")) == 1
    # Swagger UI from our own origin: no CDN, no inline script (api/docs_page.py).
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "cdn" not in policy and "unsafe-eval" not in policy
    for response in (api, missing):
        assert response.headers.get_list("content-security-policy") == [
            response.headers["content-security-policy"]
        ]
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
