"""The drills' preconditions against a made-up platform: the seam (``DrillControl``) is all a drill needs.

No topology: fake handles answer what a drill asks of a platform, so these run anywhere and show what
another platform would have to implement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from neurmatic.deployment.drills import (
    DrillControl,
    PostgresHandle,
    ProcessIdentity,
    ServiceHandle,
    ServiceState,
)
from neurmatic.deployment.failover import FailoverFailed
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.registry import get_scenario
from neurmatic.ops.flows.drills.runner import check_whole


@dataclass
class FakeService:
    name: str
    pid: int | None = 100

    def running_pid(self) -> int | None:
        return self.pid

    def identity(self) -> ProcessIdentity | None:
        return None if self.pid is None else (self.pid, 1)

    def is_ready(self) -> bool:
        return self.pid is not None

    def kill(self) -> int | None:
        pid, self.pid = self.pid, None
        return pid

    def await_killed(self, pid: int) -> bool:
        return self.pid != pid

    def ensure_running(self) -> None:
        self.pid = self.pid or 101


@dataclass
class FakePostgres(FakeService):
    primary: bool = False
    streaming_to: set[str] = field(default_factory=set)

    def postmaster_pid(self) -> int | None:
        return self.pid

    def kill_postmaster(self) -> int | None:
        return self.kill()

    def patroni_state(self) -> str | None:
        return "leader running" if self.primary else "replica streaming"

    def takes_writes(self) -> bool:
        return self.primary and self.pid is not None

    def streams_to(self, standby: str) -> bool:
        return standby in self.streaming_to


@dataclass
class FakeEtcd(FakeService):
    leader: bool = False

    def role(self) -> str | None:
        return None if self.pid is None else "leader" if self.leader else "follower"

    def keep_down(self) -> None:
        pass  # nothing restarts a fake

    def let_restart(self) -> None:
        pass


@dataclass
class FakeControl:
    states: list[ServiceState]
    watcher: bool = True
    apis: list[ServiceHandle] = field(default_factory=list)
    postgres: list[PostgresHandle] = field(default_factory=list)
    etcd: list[FakeEtcd] = field(default_factory=list)
    location: str = "/nowhere"
    reports_dir: Path = Path("/nowhere/drills")

    def service_states(self) -> list[ServiceState]:
        return self.states

    def watcher_running(self) -> bool:
        return self.watcher

    def api_instances(self) -> list[ServiceHandle]:
        return self.apis

    def postgres_nodes(self) -> list[PostgresHandle]:
        return self.postgres

    def etcd_members(self) -> list[FakeEtcd]:
        return self.etcd

    def postgres_primary(self) -> PostgresHandle:
        primary = next((n for n in self.postgres if n.takes_writes()), None)
        if primary is None:
            raise FailoverFailed("no PostgreSQL node takes writes")
        return primary


@dataclass
class FakeDeployment:
    patroni_urls: tuple[str, ...] = ()  # no HA engine to ask: the servers' own answers decide


@dataclass
class FakeContext:
    control: FakeControl
    deployment: FakeDeployment = field(default_factory=FakeDeployment)


def as_control(control: FakeControl) -> DrillControl:
    return cast(DrillControl, control)  # only what these drills ask is implemented


def as_context(control: FakeControl) -> DrillContext:
    return cast(DrillContext, FakeContext(control))


def test_a_drill_refuses_a_topology_that_is_not_whole_and_names_what_is_missing() -> None:
    control = FakeControl([ServiceState("backend-1", "ready"), ServiceState("redis-2", "stopped")])
    with pytest.raises(DrillPreconditionFailed, match=r"not whole before the drill: redis-2 \(stopped\)"):
        check_whole(as_control(control), get_scenario("redis-failure"))


def test_a_drill_that_needs_the_watcher_refuses_without_it() -> None:
    control = FakeControl([ServiceState("backend-1", "ready")], watcher=False)
    check_whole(as_control(control), get_scenario("redis-failure"))  # Sentinel recovers, not the watcher
    with pytest.raises(DrillPreconditionFailed, match="needs the watcher"):
        check_whole(as_control(control), get_scenario("backend-failure"))


def test_backend_failure_needs_two_api_instances() -> None:
    control = FakeControl([], apis=[FakeService("backend-1")])
    with pytest.raises(DrillPreconditionFailed, match="at least two API instances"):
        get_scenario("backend-failure").check_ready(as_context(control))


def test_db_failure_needs_the_standby_streaming_from_the_primary() -> None:
    primary = FakePostgres("postgres-1", primary=True)
    control = FakeControl([], postgres=[primary, FakePostgres("postgres-2")])
    with pytest.raises(DrillPreconditionFailed, match="not streaming"):
        get_scenario("db-failure").check_ready(as_context(control))
    primary.streaming_to.add("postgres-2")
    for name in ("db-failure", "patroni-failure", "switchover"):
        get_scenario(name).check_ready(as_context(control))
    primary.pid = None  # the leader's database is down: nothing to fail over from on purpose
    with pytest.raises(DrillPreconditionFailed, match="no PostgreSQL node takes writes"):
        get_scenario("switchover").check_ready(as_context(control))


def test_etcd_failure_needs_every_member_healthy_and_one_leader() -> None:
    primary = FakePostgres("postgres-1", primary=True, streaming_to={"postgres-2"})
    members = [FakeEtcd("etcd-1", leader=True), FakeEtcd("etcd-2"), FakeEtcd("etcd-3", pid=None)]
    control = FakeControl([], postgres=[primary, FakePostgres("postgres-2")], etcd=members)
    with pytest.raises(DrillPreconditionFailed, match="etcd cluster is not whole"):
        get_scenario("etcd-failure").check_ready(as_context(control))
    members[2].ensure_running()
    get_scenario("etcd-failure").check_ready(as_context(control))
