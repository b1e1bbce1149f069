"""Sessions and queued jobs survive a Sentinel failover of the Redis master.

This module runs its own topology: the failover swaps the Redis roles, which the shared one must keep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from neurmatic.adapters.redis import direct, sync_master
from neurmatic.mail.message import MailMessage
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology
from neurmatic.worker.queues import enqueue_mail
from tests.conftest import RunningTopology, started_topology
from tests.mailbox import wait_for_mail
from tests.support import neurmatic, register_and_login

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "failover") as running:
        yield running


def _sentinel(state: TopologyState, index: int = 1):  # type: ignore[no-untyped-def]
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
    assert master.execute_command("WAIT", 1, 2000) == 1  # acknowledged by the replica
    master.close()

    sentinel = _sentinel(state)
    sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        address = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
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

    auth = {"Authorization": f"Bearer {token['accessToken']}"}
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
