"""The etcd cluster that holds Patroni's leader key: each member's command line, for production and for
the local topology (``supervisor/services/etcd.py`` builds its ``EtcdMember`` from :func:`etcd_flags`).

Three members, so the cluster keeps its quorum (two) when any one is lost. Only the addresses differ
(compose service names instead of loopback ports), so what the integration tests exercise is what
production runs.
"""

from __future__ import annotations

from dataclasses import dataclass

# etcd elects a new leader of its own within a second of losing one: far inside Patroni's 20 s leader-key
# TTL, so an etcd member's loss never costs PostgreSQL its leader. The round trips these budget for are
# those of one host or one LAN (under a millisecond), as in the local topology.
HEARTBEAT_INTERVAL_MS = 100
ELECTION_TIMEOUT_MS = 1000
CLIENT_PORT = 2379
PEER_PORT = 2380


@dataclass(frozen=True)
class EtcdMemberConfig:
    """One member: where it keeps its data, what it listens on, and what it tells the others."""

    name: str
    data_dir: str
    listen_client_url: str
    advertise_client_url: str
    listen_peer_url: str
    advertise_peer_url: str


def etcd_flags(member: EtcdMemberConfig, *, peers: dict[str, str], token: str) -> list[str]:
    """``etcd``'s arguments for ``member`` of the cluster ``peers`` (member name → its peer URL).

    ``token`` names the cluster (no secret), so members of two clusters that see each other never join.
    """
    cluster = ",".join(f"{name}={url}" for name, url in peers.items())
    return [
        f"--name={member.name}",
        f"--data-dir={member.data_dir}",
        f"--listen-client-urls={member.listen_client_url}",
        f"--advertise-client-urls={member.advertise_client_url}",
        f"--listen-peer-urls={member.listen_peer_url}",
        f"--initial-advertise-peer-urls={member.advertise_peer_url}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",  # ignored once the data directory holds a member
        f"--heartbeat-interval={HEARTBEAT_INTERVAL_MS}",
        f"--election-timeout={ELECTION_TIMEOUT_MS}",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


def service_cluster(names: tuple[str, ...], *, data_dir: str, token: str) -> dict[str, list[str]]:
    """Each member's arguments when every member is a host of its own name (a compose service).

    Members listen on every interface of their container and advertise their service name, which the
    compose network resolves for the other members and for Patroni.
    """
    peers = {name: f"http://{name}:{PEER_PORT}" for name in names}
    return {
        name: etcd_flags(
            EtcdMemberConfig(
                name=name,
                data_dir=data_dir,
                listen_client_url=f"http://0.0.0.0:{CLIENT_PORT}",
                advertise_client_url=f"http://{name}:{CLIENT_PORT}",
                listen_peer_url=f"http://0.0.0.0:{PEER_PORT}",
                advertise_peer_url=peers[name],
            ),
            peers=peers,
            token=token,
        )
        for name in names
    }
