"""The local topology's control for DR drills (``deployment/drills.py``'s ``DrillControl``).

Process mechanics only: which servers exist, how to kill and start them, how to lose the whole state
directory and rebuild it from saved secrets. What a drill does with them stays in ``ops/flows/drills``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from neurmatic.deployment.drills import (
    EtcdHandle,
    PostgresHandle,
    RedisHandle,
    SentinelHandle,
    ServiceHandle,
    ServiceState,
)
from neurmatic.deployment.failover import FailoverFailed, Progress
from neurmatic.deployment.model import Deployment
from neurmatic.errors import TopologyError
from neurmatic.settings import Settings
from neurmatic.supervisor import runner
from neurmatic.supervisor.drill_handles import (
    LocalEtcd,
    LocalPostgres,
    LocalRedis,
    LocalSentinel,
    LocalService,
)
from neurmatic.supervisor.services.app import app_settings
from neurmatic.supervisor.state import TopologyState
from neurmatic.supervisor.topology import Topology
from neurmatic.supervisor.watcher import Watcher

VAULT_SECRETS = "secrets.env"
VAULT_TLS = "tls"


class LocalDrills:
    """Drill control of the topology in one state directory."""

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.topology = Topology(state)

    @property
    def location(self) -> str:
        return str(self.state.paths.root)

    @property
    def reports_dir(self) -> Path:
        return self.state.paths.root / "drills"

    def app_settings(self) -> Settings:
        return app_settings(self.state)

    def service_states(self) -> list[ServiceState]:
        # The watcher is asked separately (watcher_running): only the drills that need it require it.
        return [ServiceState(s.name, s.state) for s in runner.status(self.state) if s.name != "watcher"]

    def watcher_running(self) -> bool:
        return Watcher(self.state).pidfile.running_pid() is not None

    def api_instances(self) -> list[ServiceHandle]:
        return [LocalService(api) for api in self.topology.apis]

    def service(self, name: str) -> LocalService:
        return LocalService(self.topology.service(name))

    def postgres_nodes(self) -> list[PostgresHandle]:
        return [LocalPostgres(node, self.topology) for node in self.topology.postgres]

    def postgres_primary(self) -> LocalPostgres:
        """The node Patroni names the leader, once it takes writes."""
        try:
            node = self.topology.patroni_leader()
        except TopologyError as exc:
            raise FailoverFailed(exc.message, hint="is Patroni running? see `neurmatic status`") from exc
        handle = LocalPostgres(node, self.topology) if node is not None else None
        if handle is None or not handle.takes_writes():
            raise FailoverFailed(
                "no PostgreSQL node is Patroni's running leader taking writes",
                hint="see `neurmatic status`; Patroni elects one within its ttl",
            )
        return handle

    def etcd_members(self) -> list[EtcdHandle]:
        return [LocalEtcd(member) for member in self.topology.etcd]

    def redis_nodes(self) -> list[RedisHandle]:
        return [LocalRedis(node) for node in self.topology.redis]

    def sentinels(self) -> list[SentinelHandle]:
        return [LocalSentinel(sentinel) for sentinel in self.topology.sentinels]

    def load_balancer_error_log(self) -> Path:
        return self.state.paths.nginx / "logs" / "error.log"

    def keep_secrets(self, vault: Path) -> None:
        shutil.copy2(self.state.paths.secrets_file, vault / VAULT_SECRETS)
        shutil.copytree(self.state.paths.tls, vault / VAULT_TLS)

    def destroy(self) -> None:
        watcher = Watcher(self.state).pidfile.running_pid()
        # Patroni's postmasters run in sessions of their own: a kill of Patroni's group leaves them.
        postmasters = [node.postmaster_pid() for node in self.topology.postgres]
        for pid in [watcher, *(s.running_pid() for s in self.topology.services())]:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        for pid in postmasters:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
        shutil.rmtree(self.state.paths.root)

    def rebuild(self, vault: Path, progress: Progress) -> Deployment:
        from neurmatic.supervisor.platform import local_deployment  # the platform module imports this one

        old = self.state
        rebuilt = runner.open_or_create(
            old.paths.root,
            base_port=old.ports.base,
            api_instances=old.api_instances,
            secrets_file=vault / VAULT_SECRETS,
        )
        # The certificate comes back from the vault too (the guide re-runs certbot; same effect here).
        shutil.copytree(vault / VAULT_TLS, rebuilt.paths.tls, dirs_exist_ok=True)
        rebuilt.account.own(rebuilt.paths.tls)
        runner.up(rebuilt, progress=progress)
        self.state, self.topology = rebuilt, Topology(rebuilt)
        return local_deployment(rebuilt.paths.root)
