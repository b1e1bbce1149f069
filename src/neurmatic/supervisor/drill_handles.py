"""The local topology's servers as the handles a DR drill acts on (``deployment/drills.py``).

Thin wrappers over the supervisor's ``Service`` classes: the drill flows see names, pids and the facts
they check, never a ``Service``, a pid file or a data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal

from neurmatic.adapters.redis import direct, sentinel_command
from neurmatic.deployment.drills import ProcessIdentity
from neurmatic.supervisor.failover.pg_nodes import is_running_primary, is_streaming
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.service import Service
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
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # every server leads its own session (start_new_session)
        return pid

    def ensure_running(self) -> None:
        self.service.ensure_running()


class LocalPostgres(LocalService):
    """A PostgreSQL node; ``topology`` finds the standby a primary streams to."""

    def __init__(self, node: PostgresNode, topology: Topology) -> None:
        super().__init__(node)
        self.node, self.topology = node, topology

    @property
    def fenced(self) -> bool:
        return self.node.is_fenced

    def fence_reason(self) -> str:
        return self.node.fence_reason()

    def answers(self) -> bool:
        try:
            return self.node.probe()
        except Exception:  # a crashed server refuses connections: that is the answer
            return False

    def takes_writes(self) -> bool:
        return is_running_primary(self.node)

    def streams_to(self, standby: str) -> bool:
        node = next(n for n in self.topology.postgres if n.name == standby)
        return is_streaming(self.node, node)


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
