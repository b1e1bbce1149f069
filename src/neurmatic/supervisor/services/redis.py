"""Redis nodes (``redis-1`` master, ``redis-2`` replica at creation) and the three Sentinels.

Redis and Sentinel rewrite their own config files as roles change, so configs are rendered once, when a
node is created, and a later ``up`` starts the node with the file as the node left it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurmatic.adapters.commands import require_binary
from neurmatic.adapters.probes import redis_call, redis_info
from neurmatic.private_files import write_private_file
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:  # redis-py is imported where a client is made: the probes speak RESP themselves
    import redis

SENTINEL_QUORUM = 2
REDIS_MAXMEMORY = "512mb"


def redis_server_binary() -> str:
    return str(require_binary("redis-server", package="redis-server"))


class RedisNode(Service):
    ready_timeout = 60.0

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"redis-{index}"
        super().__init__(state)
        self.data_dir = self.paths.redis_dir(index)
        self.config = self.data_dir / "redis.conf"

    @property
    def port(self) -> int:
        return self.state.ports.redis(self.index)

    @property
    def password(self) -> str:
        return self.state.secrets["REDIS_PASSWORD"]

    def command(self) -> list[str]:
        return [redis_server_binary(), str(self.config)]

    def prepare(self) -> None:
        from neurmatic.render import render_template  # Jinja2: only when a node is created

        # 0700: Redis and Sentinel rewrite their configs (which hold the passwords) as new 0644 files.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        if self.config.exists():
            return
        replicaof = None if self.index == 1 else f"{HOST} {self.state.ports.redis(1)}"
        text = render_template(
            "redis.conf.j2",
            bind=HOST,
            port=self.port,
            password=self.password,
            replicaof=replicaof,
            announce_ip=HOST,
            data_dir=str(self.data_dir),
            logfile="",
            maxmemory=REDIS_MAXMEMORY,
            sync_delay=0,
        )
        write_private_file(self.config, text, self.state.account)
        self.state.account.own(self.data_dir)

    def probe(self) -> bool:
        replication, persistence = (
            redis_info(reply)
            for reply in redis_call(
                HOST, self.port, self.password, ("INFO", "replication"), ("INFO", "persistence")
            )
        )
        if persistence.get("loading") not in (None, "0"):
            return False
        # A replica is ready when its link to the master is up and the initial sync is done.
        return replication.get("role") == "master" or replication.get("master_link_status") == "up"

    def role(self) -> str:
        (reply,) = redis_call(HOST, self.port, self.password, ("INFO", "replication"))
        role = redis_info(reply).get("role", "unknown")
        return "replica" if role == "slave" else role


class SentinelNode(Service):
    ready_timeout = 30.0

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"sentinel-{index}"
        super().__init__(state)
        self.data_dir = self.paths.sentinel_dir(index)
        self.config = self.data_dir / "sentinel.conf"

    @property
    def port(self) -> int:
        return self.state.ports.sentinel(self.index)

    def command(self) -> list[str]:
        return [redis_server_binary(), str(self.config), "--sentinel"]

    def prepare(self) -> None:
        from neurmatic.render import render_template  # Jinja2: only when a node is created

        # 0700: Redis and Sentinel rewrite their configs (which hold the passwords) as new 0644 files.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        if self.config.exists():
            return
        text = render_template(
            "sentinel.conf.j2",
            bind=HOST,
            port=self.port,
            data_dir=str(self.data_dir),
            logfile="",
            announce_ip=HOST,
            resolve_hostnames=False,
            sentinel_password=self.state.secrets["REDIS_SENTINEL_PASSWORD"],
            master_name=SENTINEL_MASTER_NAME,
            master_host=HOST,
            master_port=self.state.ports.redis(1),
            quorum=SENTINEL_QUORUM,
            redis_password=self.state.secrets["REDIS_PASSWORD"],
        )
        write_private_file(self.config, text, self.state.account)
        self.state.account.own(self.data_dir)

    def client(self) -> redis.Redis:
        from neurmatic.adapters.redis import direct

        return direct(HOST, self.port, self.state.secrets["REDIS_SENTINEL_PASSWORD"])

    def master_address(self) -> tuple[str, int] | None:
        """Where this Sentinel says the master is (None: it does not know one)."""
        password = self.state.secrets["REDIS_SENTINEL_PASSWORD"]
        command = ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME)
        (address,) = redis_call(HOST, self.port, password, command)
        if isinstance(address, list) and len(address) == 2:
            return str(address[0]), int(str(address[1]))
        return None

    def probe(self) -> bool:
        return self.master_address() is not None

    def role(self) -> str:
        return "sentinel"

    def quorum_reached(self) -> bool:
        """True when this Sentinel sees enough peers to authorise a failover (SENTINEL CKQUORUM)."""
        from neurmatic.adapters.redis import sentinel_command  # redis-py: not for `neurmatic status`

        client = self.client()
        try:
            sentinel_command(client, "CKQUORUM", SENTINEL_MASTER_NAME)
            master = sentinel_command(client, "MASTER", SENTINEL_MASTER_NAME)
        except Exception:
            return False
        finally:
            client.close()
        fields = dict(zip(master[::2], master[1::2], strict=False)) if isinstance(master, list) else master
        return int(fields.get("num-other-sentinels", 0)) >= 2
