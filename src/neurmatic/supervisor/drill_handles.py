"""The local topology's servers as the handles a DR drill acts on (``deployment/drills.py``).

Thin wrappers over the supervisor's ``Service`` classes: the drill flows see names, pids and the facts
they check, never a ``Service``, a pid file or a data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal

from neurmatic.adapters.postgres import accepts_writes, replication_state
from neurmatic.adapters.redis import direct, sentinel_command
from neurmatic.deployment.drills import ProcessIdentity
from neurmatic.polling import poll
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.process import await_group_dead, is_running, kill_group, signal_group
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.services.etcd import EtcdMember
from neurmatic.supervisor.services.postgres import PostgresNode
from neurmatic.supervisor.services.redis import RedisNode, SentinelNode
from neurmatic.supervisor.topology import Topology


class LocalService:
    """A supervised server of the local topology."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def name(self) -> str:
        return self.service.name

    def running_pid(self) -> int | None:
        return self.service.running_pid()

    def identity(self) -> ProcessIdentity | None:
        return self.service.pidfile.read()

    def is_ready(self) -> bool:
        return self.service.status().state == "ready"

    def kill(self) -> int | None:
        pid = self.service.running_pid()
        if pid is not None:
            signal_group(pid, signal.SIGKILL)  # every server leads its own session (start_new_session)
        return pid

    def await_killed(self, pid: int) -> bool:
        return await_group_dead(pid)

    def ensure_running(self) -> None:
        self.service.ensure_running()


class LocalPostgres(LocalService):
    """A PostgreSQL node: the service is its Patroni (``kill`` kills Patroni alone: the postmaster runs
    in a session of its own and survives, as after a real Patroni crash); ``kill_postmaster`` crashes
    PostgreSQL under a live Patroni."""

    def __init__(self, node: PostgresNode, topology: Topology) -> None:
        super().__init__(node)
        self.node, self.topology = node, topology

    def postmaster_pid(self) -> int | None:
        return self.node.postmaster_pid()

    def kill_postmaster(self) -> int | None:
        pid = self.node.postmaster_pid()
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            # Patroni starts the postmaster in a session of its own, so its process group holds the
            # postmaster and its backends but not Patroni: the whole database dies at once, as in a crash.
            group = os.getpgid(pid)
            patroni = self.running_pid()
            if patroni is not None and group == os.getpgid(patroni):
                os.kill(pid, signal.SIGKILL)  # never take Patroni down with it
                poll(lambda: not is_running(pid), timeout=5.0, interval=0.01, catch=())
            else:
                kill_group(group)
        return pid

    def takes_writes(self) -> bool:
        try:
            return accepts_writes(self.node.endpoint, timeout=1.0)
        except Exception:
            return False

    def streams_to(self, standby: str) -> bool:
        return replication_state(self.node.endpoint, standby) == "streaming"

    def patroni_state(self) -> str | None:
        """Patroni's role and state of this node (None when no Patroni answers)."""
        try:
            member = self.node.member()
        except Exception:
            return None
        return f"{member.role} {member.state}" if member else "not a member"


class LocalEtcd(LocalService):
    """An etcd member: its role (``leader`` or ``follower``) as the member itself says."""

    def __init__(self, member: EtcdMember) -> None:
        super().__init__(member)
        self.member = member

    def role(self) -> str | None:
        try:
            return self.member.role()
        except Exception:  # a dead member has no role
            return None

    def keep_down(self) -> None:
        self.member.paths.hold(self.member.name).touch()  # the watcher leaves a held service alone

    def let_restart(self) -> None:
        self.member.paths.hold(self.member.name).unlink(missing_ok=True)


class LocalRedis(LocalService):
    """A Redis server, asked directly (not through Sentinel) what it is."""

    def __init__(self, node: RedisNode) -> None:
        super().__init__(node)
        self.node = node

    @property
    def port(self) -> int:
        return self.node.port

    def replication(self) -> dict[str, str]:
        client = direct(HOST, self.node.port, self.node.password)
        try:
            return {k: str(v) for k, v in client.info("replication").items()}
        finally:
            client.close()


class LocalSentinel:
    """A Sentinel of the local topology."""

    def __init__(self, sentinel: SentinelNode) -> None:
        self.sentinel = sentinel

    @property
    def name(self) -> str:
        return self.sentinel.name

    def master_port(self) -> int | None:
        client = self.sentinel.client()
        try:
            address = sentinel_command(client, "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME)
            return int(address[1]) if address else None
        except Exception:  # a Sentinel that does not answer names no master
            return None
        finally:
            client.close()

    def has_quorum(self) -> bool:
        return self.sentinel.quorum_reached()
