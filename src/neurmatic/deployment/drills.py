"""What DR drills need from a platform (implemented by ``supervisor/drills_control.py``).

A drill breaks real servers on purpose and checks that the system comes back: it needs to reach the
processes (kill one like a crash, start one again, tell a restarted process from the one that was
there) and to ask each server what it is (a primary that takes writes, a fenced old primary, a Redis
replica in sync). The drill logic itself (scenarios, the load, RTO/RPO, checks, reports) lives in
``ops/flows/drills`` and works against these protocols only, so a platform other than the local
topology (compose, Kubernetes) can run the same drills by implementing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from neurmatic.deployment.failover import Progress
    from neurmatic.deployment.model import Deployment
    from neurmatic.settings import Settings

ProcessIdentity = tuple[int, int | None]  # a pid and its process's start time: a restart changes it


class ServiceState(NamedTuple):
    """A service's name and state (``ready``, ``starting``, ``stopped`` or ``unhealthy``)."""

    name: str
    state: str


class ServiceHandle(Protocol):
    """One supervised server, as a drill acts on it."""

    @property
    def name(self) -> str: ...

    def running_pid(self) -> int | None:
        """The pid of the running server, None when it is not running."""
        ...

    def identity(self) -> ProcessIdentity | None:
        """The process as recorded (pid and start time): equal before and after only if it never restarted."""
        ...

    def is_ready(self) -> bool:
        """It runs and answers its own readiness probe."""
        ...

    def kill(self) -> int | None:
        """SIGKILL its whole process group, a crash with no shutdown; the pid killed (None: not running).
        The processes die a moment later: ``await_killed`` waits for them."""
        ...

    def await_killed(self, pid: int) -> bool:
        """Wait until every process of the group ``kill`` signalled is dead (its sockets closed); False
        when some still run after a few seconds."""
        ...

    def ensure_running(self) -> None:
        """Start it unless it runs, as ``neurmatic up`` would, and wait until it is ready."""
        ...


class PostgresHandle(ServiceHandle, Protocol):
    """A PostgreSQL node run by its HA agent (Patroni), and the facts a database drill checks.

    The handle's own process (``kill``, ``identity``) is the agent; ``kill_postmaster`` crashes the
    database under a live agent.
    """

    def postmaster_pid(self) -> int | None: ...

    def kill_postmaster(self) -> int | None:
        """SIGKILL the postmaster and its backends (a database crash), and return once the postmaster is
        dead; the pid killed."""
        ...

    def patroni_state(self) -> str | None:
        """The agent's role and state of this node (``leader running``…), None when it does not answer."""
        ...

    def takes_writes(self) -> bool:
        """It runs and accepts writes (it is a primary)."""
        ...

    def streams_to(self, standby: str) -> bool:
        """The node named ``standby`` streams WAL from this one."""
        ...


class EtcdHandle(ServiceHandle, Protocol):
    """A member of the consensus store that holds Patroni's leader key."""

    def role(self) -> str | None:
        """``leader`` or ``follower``; None when it does not answer."""
        ...

    def keep_down(self) -> None:
        """From now on, nothing restarts it when it dies (until ``let_restart``)."""
        ...

    def let_restart(self) -> None:
        """Let the supervisor restart it again (it does so at once when it is dead)."""
        ...


class RedisHandle(ServiceHandle, Protocol):
    """A Redis server: where it listens and what it says of its replication."""

    @property
    def port(self) -> int: ...

    def replication(self) -> dict[str, str]:
        """Its ``INFO replication`` (``role``, ``master_link_status``…); raises when it does not answer."""
        ...


class SentinelHandle(Protocol):
    """A Redis Sentinel, asked about the master it watches."""

    @property
    def name(self) -> str: ...

    def master_port(self) -> int | None:
        """The port of the master this Sentinel names (None when it names none or does not answer)."""
        ...

    def has_quorum(self) -> bool:
        """It sees enough peers to authorise a failover."""
        ...


class DrillControl(Protocol):
    """Breaking the servers of a deployment on purpose and bringing them back."""

    @property
    def location(self) -> str:
        """Where the servers live (the local topology's state directory), for messages and reports."""
        ...

    @property
    def reports_dir(self) -> Path:
        """Where the drills' reports (and their lock and backups) go."""
        ...

    def app_settings(self) -> Settings:
        """The settings the API and the worker run with: the drill reaches their database and Redis."""
        ...

    def service_states(self) -> list[ServiceState]:
        """Every service and its state, in start order."""
        ...

    def watcher_running(self) -> bool:
        """The watcher (which restarts crashed API instances and the worker) runs."""
        ...

    def api_instances(self) -> list[ServiceHandle]: ...

    def service(self, name: str) -> ServiceHandle:
        """The service called ``name`` (``worker``, ``backend-1``…); KeyError when there is none."""
        ...

    def postgres_nodes(self) -> list[PostgresHandle]: ...

    def postgres_primary(self) -> PostgresHandle:
        """The node that runs and takes writes; FailoverFailed when none does, or (never) two."""
        ...

    def etcd_members(self) -> list[EtcdHandle]: ...

    def redis_nodes(self) -> list[RedisHandle]: ...

    def sentinels(self) -> list[SentinelHandle]: ...

    def load_balancer_error_log(self) -> Path:
        """nginx's error log, which says when it took upstreams out (a drill explains late recovery)."""
        ...

    def keep_secrets(self, vault: Path) -> None:
        """Copy what a secrets manager would hold (secrets, TLS material) into ``vault``."""
        ...

    def destroy(self) -> None:
        """Kill every process (the watcher first) and delete everything on disk: the server is lost."""
        ...

    def rebuild(self, vault: Path, progress: Progress) -> Deployment:
        """A new topology in the same place from ``vault``'s secrets and TLS material, started (an empty
        database); the deployment it describes."""
        ...
