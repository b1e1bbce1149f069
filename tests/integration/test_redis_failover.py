"""Sessions and queued jobs survive a Sentinel failover of the Redis master.

This module runs its own topology: the failover swaps the Redis roles, which the shared one must keep.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import JobStatus
from rq.scheduler import RQScheduler

from neurmatic.adapters.redis import direct, sentinel_command, sync_master
from neurmatic.domain.jobs import enqueue_mail
from neurmatic.mail.message import MailMessage
from neurmatic.ops.flows.drills.probe import drill_probe
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology
from neurmatic.worker.scheduler import LEASE_SECONDS
from tests.conftest import RunningTopology, started_topology
from tests.mailbox import wait_for_mail
from tests.support import bearer, neurmatic, register_and_login, require_binary


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "failover") as running:
        yield running


def _sentinel(state: TopologyState, index: int = 1) -> redis.Redis:
    return direct(HOST, state.ports.sentinel(index), state.secrets["REDIS_SENTINEL_PASSWORD"])


def test_sessions_and_queued_jobs_survive_a_sentinel_failover(own_topology: RunningTopology) -> None:
    state = own_topology.state
    with own_topology.client() as client:
        email, login = register_and_login(client, "fo")
        token = login.json()["data"]
    Topology(state).service("worker").stop()  # the job must wait in the queue through the failover
    settings = own_topology.app_settings()
    master = sync_master(settings.redis)
    recipient = f"queued-{uuid.uuid4().hex[:8]}@example.com"
    job = enqueue_mail(
        master, MailMessage(to=recipient, subject="Queued before the failover", text="still here", html=None)
    )
    assert master.wait(1, 2000) == 1  # acknowledged by the replica
    master.close()

    sentinel = _sentinel(state)
    sentinel_command(sentinel, "FAILOVER", "mymaster")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        address = sentinel_command(sentinel, "GET-MASTER-ADDR-BY-NAME", "mymaster")
        if address == [HOST, str(state.ports.redis(2))]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("Sentinel did not promote redis-2")
    sentinel.close()
    promoted = direct(HOST, state.ports.redis(2), state.secrets["REDIS_PASSWORD"])
    deadline = time.monotonic() + 15
    while promoted.info("replication")["role"] != "master" and time.monotonic() < deadline:
        time.sleep(0.2)
    promoted.close()

    auth = bearer(token["accessToken"])
    with own_topology.client() as client:
        deadline = time.monotonic() + 20
        while True:  # the API's clients follow the new master on their next connection
            me = client.get("/api/v1/users/me", headers=auth)
            if me.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        refreshed = client.post("/api/v1/auth/refresh", json={"refreshToken": token["refreshToken"]})
    assert me.status_code == 200 and me.json()["data"]["email"] == email
    assert refreshed.status_code == 200

    neurmatic("up", state_dir=own_topology.state_dir)  # the worker comes back and finds its job
    # RQ delivers at least once: a job caught mid-run by the failover may run again, never zero times.
    delivered = wait_for_mail(own_topology.state_dir / "mail", recipient)
    assert delivered and all(m["Subject"] == "Queued before the failover" for m in delivered)
    deadline = time.monotonic() + 20  # Sentinel turns the old master into a replica of the new one
    while True:
        roles = {name: s["role"] for name, s in own_topology.status().items()}
        if roles["redis-1"] == "replica" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert roles["redis-1"] == "replica" and roles["redis-2"] == "master"
    assert job.id


class _LoneRedis:
    """One redis-server on a free port, which the test stops (SIGKILL) and starts again, empty."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=self.workdir, stdout=subprocess.DEVNULL)
        _until(lambda: self._answers(), "redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)

    def _answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


def _until(condition: Callable[[], bool], failure: str, within: float = 60.0) -> None:
    """Poll ``condition`` (a bound, not a measured time: failing here means it never happened)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.2)


@pytest.fixture()
def lone_redis(tmp_path: Path) -> Iterator[_LoneRedis]:
    server = _LoneRedis(require_binary("redis-server"), _free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def test_the_worker_rides_through_redis_going_away_mid_job(lone_redis: _LoneRedis, tmp_path: Path) -> None:
    """Redis lost while a job runs ends RQ's loop, and creating its successor fails while Redis is away
    (the failover the redis-failure drill caught killing the worker). The process must live on, keep a
    scheduler lock only for a short lease, and schedule and run jobs again once Redis is back."""
    name = f"outage-{uuid.uuid4().hex[:6]}"
    log_file = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "NEURMATIC_"))}
    env |= {
        "NODE_ENV": "development",
        "REDIS_URL": f"redis://{HOST}:{lone_redis.port}/0",
        "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    with log_file.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "neurmatic", "worker", "--name", name], env=env, stderr=log, cwd=tmp_path
        )
    client = lone_redis.client()
    try:
        lock = RQScheduler.get_locking_key("default")
        _until(lambda: client.ttl(lock) > 0, "the worker never took the scheduler lock")
        # A killed worker's lock is free within the lease, not a minute later.
        assert 0 < client.ttl(lock) <= LEASE_SECONDS

        running = Queue("default", connection=client).enqueue("time.sleep", 3)
        _until(lambda: running.get_status(refresh=True) == JobStatus.STARTED, "the job never started")
        lone_redis.kill()  # while the job runs: RQ's loop meets the outage outside its waiting for jobs
        _until(
            lambda: worker.poll() is not None or _restarts(log_file) >= 2,
            "the worker neither restarted its loop nor exited",
        )
        assert worker.poll() is None, log_file.read_text()[-3000:]

        lone_redis.start()  # empty: whatever was scheduled before is gone with it
        token = uuid.uuid4().hex
        scheduled = Queue("default", connection=client).enqueue_in(
            timedelta(seconds=1), drill_probe, token, result_ttl=600
        )
        _until(
            lambda: scheduled.get_status(refresh=True) == JobStatus.FINISHED,
            "a job scheduled after the outage never ran",
        )
        assert scheduled.return_value() == token and worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        client.close()


def _restarts(log_file: Path) -> int:
    return log_file.read_text(errors="replace").count("worker loop ended unexpectedly")
