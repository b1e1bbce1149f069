"""The topology: which services exist, in which order they start, and the env the app runs with."""

from __future__ import annotations

import os

from neurmatic.adapters.patroni import first_cluster
from neurmatic.private_files import write_private_file
from neurmatic.supervisor.layout import (
    APP_DB_USER,
    DATABASE_NAME,
    HOST,
    SENTINEL_MASTER_NAME,
)
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.services.app import ApiInstance, WorkerProcess
from neurmatic.supervisor.services.etcd import ETCD_MEMBERS, EtcdMember
from neurmatic.supervisor.services.mail import MailCatcher
from neurmatic.supervisor.services.monitoring import monitoring_services
from neurmatic.supervisor.services.nginx import NginxBalancer
from neurmatic.supervisor.services.postgres import PG_NODES, PostgresNode
from neurmatic.supervisor.services.redis import RedisNode, SentinelNode
from neurmatic.supervisor.state import TopologyState

# Worker processes per API instance when the operator did not choose (`up --web-concurrency N`): one per
# core the supervisor may use. The topology runs two or more instances for availability, not capacity:
# during a rolling deploy or after a crash one instance carries all the traffic, so each must be able
# to use every core alone. Capped, because each worker holds its own app, pools and ~100 MB, and this
# machine also runs PostgreSQL, Redis and nginx.
MAX_DEFAULT_WEB_CONCURRENCY = 4


def default_web_concurrency() -> int:
    """One worker per usable core (the CPU affinity, as a container or taskset limits it), 1 to 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WEB_CONCURRENCY))


class Topology:
    """Every service of one state directory, in dependency order."""

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.etcd = [EtcdMember(state, i) for i in ETCD_MEMBERS]
        self.postgres = [PostgresNode(state, i) for i in PG_NODES]
        self.redis = [RedisNode(state, 1), RedisNode(state, 2)]
        self.sentinels = [SentinelNode(state, i) for i in (1, 2, 3)]
        api_indexes = list(range(1, state.api_instances + 1))
        self.apis = [ApiInstance(state, i) for i in api_indexes]
        self.worker = WorkerProcess(state)
        self.mail = MailCatcher(state)
        self.nginx = NginxBalancer(state, api_indexes)
        self.monitoring = monitoring_services(state)

    def patroni_leader(self) -> PostgresNode | None:
        """The node Patroni names the running leader (None: none does); PatroniUnreachable when no
        Patroni answers."""
        member = first_cluster([node.api for node in self.postgres]).leader
        return next((node for node in self.postgres if member is not None and node.name == member.name), None)

    def redis_in_start_order(self) -> list[RedisNode]:
        """Masters (no ``replicaof`` in their own config) first: Sentinel may have swapped them."""

        def is_replica(node: RedisNode) -> bool:
            return node.config.exists() and "\nreplicaof " in node.config.read_text()

        return sorted(self.redis, key=lambda node: (is_replica(node), node.index))

    def services(self) -> list[Service]:
        """Every service, in start order (stop order is the reverse)."""
        return [
            *self.etcd,
            *self.postgres,
            *self.redis_in_start_order(),
            *self.sentinels,
            self.mail,
            *self.apis,
            self.worker,
            self.nginx,
            *self.monitoring,
        ]

    def service(self, name: str) -> Service:
        for service in self.services():
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services())
        from neurmatic.errors import TopologyError

        raise TopologyError(f"no service named {name!r}", hint=f"the services are: {known}")

    def urls(self) -> dict[str, str]:
        ports = self.state.ports
        return {
            "web": f"https://{HOST}:{ports.https}/",
            "api": f"https://{HOST}:{ports.https}/api/v1",
            "health": f"https://{HOST}:{ports.https}/api/v1/health",
            "docs": f"https://{HOST}:{ports.https}/api/docs",
            "http": f"http://{HOST}:{ports.http}",
            "ca_certificate": str(self.state.paths.tls / "ca.pem"),
            "prometheus": f"http://{HOST}:{ports.prometheus}",
            "alertmanager": f"http://{HOST}:{ports.alertmanager}",
        }

    def app_environment(self) -> dict[str, str]:
        """The operators' variables for the API and the worker of this topology."""
        secrets, ports = self.state.secrets, self.state.ports
        db_auth = f"{APP_DB_USER}:{secrets['POSTGRES_PASSWORD']}"
        node1, node2 = (f"{HOST}:{ports.postgres(i)}" for i in (1, 2))
        public_url = f"https://{HOST}:{ports.https}"
        workers = self.state.web_concurrency or default_web_concurrency()
        return {
            "ENVIRONMENT": "production",
            "API_URL": public_url,
            "FRONTEND_URL": public_url,
            "LOG_LEVEL": "info",
            "DATABASE_URL": f"postgresql://{db_auth}@{node1},{node2}/{DATABASE_NAME}?target_session_attrs=read-write",
            "DATABASE_REPLICA_URL": f"postgresql://{db_auth}@{node2},{node1}/{DATABASE_NAME}?target_session_attrs=prefer-standby",
            "REDIS_URL": f"redis://{HOST}:{ports.redis(1)}/0",
            "REDIS_PASSWORD": secrets["REDIS_PASSWORD"],
            "REDIS_SENTINELS": ",".join(f"{HOST}:{ports.sentinel(i)}" for i in (1, 2, 3)),
            "REDIS_SENTINEL_MASTER": SENTINEL_MASTER_NAME,
            "REDIS_SENTINEL_PASSWORD": secrets["REDIS_SENTINEL_PASSWORD"],
            # Patroni's REST APIs, read (GET /cluster) by the health report; no password: GET is open.
            "NEURMATIC_PATRONI_URLS": ",".join(f"http://{HOST}:{ports.patroni(i)}" for i in (1, 2)),
            "JWT_SECRET": secrets["JWT_SECRET"],
            "JWT_REFRESH_SECRET": secrets["JWT_REFRESH_SECRET"],
            "SESSION_SECRET": secrets["SESSION_SECRET"],
            "TRUSTED_PROXIES": "127.0.0.1,::1",
            "WEB_CONCURRENCY": str(workers),
            # Every worker has pools of its own: an instance keeps its 10 connections per node in all,
            # so 9 instances of 4 workers still stay within PostgreSQL's max_connections.
            "DATABASE_POOL_SIZE": str(max(3, -(-10 // workers))),
            "SMTP_URL": f"smtp://{HOST}:{ports.mail}",  # the local catcher (`mail`)
            # Every local client (tests, drills, load) comes from 127.0.0.1, so the operators' 100 requests
            # per 15 minutes per client would throttle the whole machine; production keeps 100.
            "RATE_LIMIT_MAX_REQUESTS": "5000",
            # The same for sign-ins per address: a run of DR drills signs in once per drill, all from
            # 127.0.0.1 (production keeps 10/15m; the per-account lockout after failures stays as it is).
            "RATE_LIMIT_LOGIN": "200/15m",
            "MEDIA_STORAGE": "local",
            "MEDIA_LOCAL_DIR": str(self.state.paths.root / "media"),
        }

    def write_app_environment(self) -> None:
        text = "".join(f"{key}={value}\n" for key, value in self.app_environment().items())
        write_private_file(self.state.paths.app_env_file, text, self.state.account)
