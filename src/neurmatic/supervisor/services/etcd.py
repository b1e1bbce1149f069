"""The three-member etcd cluster that holds Patroni's leader key (``etcd-1`` … ``etcd-3``).

Three members, so the cluster keeps a quorum (two) when any one is lost. Each member keeps its data in
the state directory and rejoins with it after a crash; the watcher restarts a dead member. Only the
loopback addresses of this machine listen, so no client authentication is configured here; production
puts etcd on the private network of the database hosts (the firewall issue closes it to everyone else).
"""

from __future__ import annotations

import json
import urllib.request

from neurmatic.adapters.commands import require_binary
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState

ETCD_MEMBERS = (1, 2, 3)
PROBE_TIMEOUT = 2.0


def etcd_client_urls(state: TopologyState) -> list[str]:
    """``host:port`` of every member's client listener (what Patroni's ``etcd3.hosts`` lists)."""
    return [f"{HOST}:{state.ports.etcd_client(i)}" for i in ETCD_MEMBERS]


class EtcdMember(Service):
    restartable = True  # a member that crashed rejoins with its data directory; the cluster kept quorum
    ready_timeout = 60.0

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"etcd-{index}"
        super().__init__(state)
        self.data_dir = self.paths.etcd_data(index)

    @property
    def port(self) -> int:
        return self.state.ports.etcd_client(self.index)

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _peer_url(self, index: int) -> str:
        return f"http://{HOST}:{self.state.ports.etcd_peer(index)}"

    def bound_ports(self) -> list[int]:
        return [self.port, self.state.ports.etcd_peer(self.index)]

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state.account.own(self.data_dir)

    def command(self) -> list[str]:
        """etcd with the flags production runs (``render/etcd.py``), on this topology's loopback ports."""
        from neurmatic.render.etcd import EtcdMemberConfig, etcd_flags

        member = EtcdMemberConfig(
            name=self.name,
            data_dir=str(self.data_dir),
            listen_client_url=self.client_url,
            advertise_client_url=self.client_url,
            listen_peer_url=self._peer_url(self.index),
            advertise_peer_url=self._peer_url(self.index),
        )
        peers = {f"etcd-{i}": self._peer_url(i) for i in ETCD_MEMBERS}
        # A cluster token of this topology's own, so members of two topologies never join each other.
        token = f"neurmatic-{self.state.ports.base}"
        binary = str(require_binary("etcd", package="etcd-server"))
        return [binary, *etcd_flags(member, peers=peers, token=token)]

    def _status(self) -> dict[str, object]:
        request = urllib.request.Request(  # noqa: S310 - our own loopback http URL
            f"{self.client_url}/v3/maintenance/status", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:  # noqa: S310 - loopback http
            data: dict[str, object] = json.loads(response.read())
        return data

    def probe(self) -> bool:
        """Healthy by etcd's own ``/health``: the member is up and the cluster has a leader."""
        with urllib.request.urlopen(f"{self.client_url}/health", timeout=PROBE_TIMEOUT) as response:  # noqa: S310
            return bool(json.loads(response.read()).get("health") == "true")

    def role(self) -> str:
        status = self._status()
        header = status.get("header")
        member = header.get("member_id") if isinstance(header, dict) else None
        return "leader" if member is not None and member == status.get("leader") else "follower"
