"""The production hosts' firewall: ``infrastructure/host/nftables.conf`` from
``templates/host/nftables.conf.j2``.

Only SSH, HTTP and HTTPS are open to anyone; the data stores, their consensus, the API instances and
every monitoring port are open only to the application hosts' private network. The ports are the ones the
compose file and the Prometheus scrape config use (their constants, imported here), so a service cannot
move to a port the firewall does not know.

The rules live in a table of their own (``inet neurmatic_filter``, IPv4 and IPv6 together): loading the
file replaces that table and nothing else, so the container runtime's tables survive it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from neurmatic.errors import ConfigurationError
from neurmatic.render import render_template
from neurmatic.render.app_container import API_PORT, WORKER_METRICS_PORT
from neurmatic.render.compose import NETWORK_SUBNET, NGINX_STATUS_PORT, PATRONI_PORT, POSTGRES_PORT
from neurmatic.render.etcd import CLIENT_PORT as ETCD_CLIENT_PORT
from neurmatic.render.etcd import PEER_PORT as ETCD_PEER_PORT
from neurmatic.render.host import Network, network_setting
from neurmatic.render.kubernetes.names import REDIS_PORT, SENTINEL_PORT
from neurmatic.render.kubernetes.network import REDIS_EXPORTER_PORT

FIREWALL_FILE = "infrastructure/host/nftables.conf"
TABLE = "neurmatic_filter"

SSH_PORT = 22
HTTP_PORT = 80
HTTPS_PORT = 443
# The monitoring servers' ports, as render.monitoring's production scrape targets name them.
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
NODE_EXPORTER_PORT = 9100
POSTGRES_EXPORTER_PORT = 9187
NGINX_EXPORTER_PORT = 9113
BLACKBOX_EXPORTER_PORT = 9115

# What each port is, for the comment on its element in the rendered sets (`nft list ruleset` shows them).
PORT_NAMES = {
    SSH_PORT: "ssh",
    HTTP_PORT: "http (redirects to https)",
    HTTPS_PORT: "https (nginx)",
    POSTGRES_PORT: "postgresql",
    PATRONI_PORT: "patroni rest api",
    ETCD_CLIENT_PORT: "etcd clients (patroni)",
    ETCD_PEER_PORT: "etcd peers",
    REDIS_PORT: "redis",
    SENTINEL_PORT: "redis sentinel",
    API_PORT: "api instances (nginx upstream), grafana",
    WORKER_METRICS_PORT: "worker metrics",
    NGINX_STATUS_PORT: "nginx stub_status",
    PROMETHEUS_PORT: "prometheus",
    ALERTMANAGER_PORT: "alertmanager",
    NODE_EXPORTER_PORT: "node exporter",
    POSTGRES_EXPORTER_PORT: "postgres exporter",
    REDIS_EXPORTER_PORT: "redis exporter",
    NGINX_EXPORTER_PORT: "nginx exporter",
    BLACKBOX_EXPORTER_PORT: "blackbox exporter",
}
PUBLIC_TCP_PORTS = (SSH_PORT, HTTP_PORT, HTTPS_PORT)
PRIVATE_TCP_PORTS = tuple(port for port in PORT_NAMES if port not in PUBLIC_TCP_PORTS)
# The application hosts' private network: a 10/8 VPC or LAN, and the compose network (containers that
# reach the host's own address). Another network is added at load time, not by editing the rendered file
# (docs/operations.md, "Host firewall").
PRIVATE_NETWORKS = ("10.0.0.0/8", NETWORK_SUBNET)


@dataclass(frozen=True)
class FirewallSettings:
    """What the rendered firewall admits. Every rate is per minute; the SSH limit counts each source's new
    connections (a password-guessing bot is cut off, an operator's few sessions are not)."""

    public_tcp_ports: tuple[int, ...] = PUBLIC_TCP_PORTS
    private_tcp_ports: tuple[int, ...] = PRIVATE_TCP_PORTS
    private_networks: tuple[str, ...] = PRIVATE_NETWORKS
    ssh_port: int = SSH_PORT
    ssh_new_connections_per_minute: int = 10
    ssh_burst: int = 5
    logged_drops_per_minute: int = 10

    def __post_init__(self) -> None:
        _check_ports("public_tcp_ports", self.public_tcp_ports)
        _check_ports("private_tcp_ports", self.private_tcp_ports)
        both = sorted(set(self.public_tcp_ports) & set(self.private_tcp_ports))
        if both:
            raise ConfigurationError(
                f"firewall: port(s) {', '.join(map(str, both))} are both public and private",
                hint="list each port once: in public_tcp_ports (anyone) or private_tcp_ports (private only)",
            )
        if self.ssh_port not in self.public_tcp_ports:
            raise ConfigurationError(
                f"firewall: ssh_port {self.ssh_port} is not one of the public ports {self.public_tcp_ports}",
                hint="add it to public_tcp_ports, or set ssh_port to the port sshd listens on",
            )
        networks = [_network(text) for text in self.private_networks]
        for first, second in combinations(networks, 2):
            if first.version == second.version and first.overlaps(second):
                raise ConfigurationError(
                    f"firewall: private networks {first} and {second} overlap",
                    hint="list the larger one only (the rendered sets need disjoint intervals)",
                )
        for name in ("ssh_new_connections_per_minute", "ssh_burst", "logged_drops_per_minute"):
            if getattr(self, name) < 1:
                raise ConfigurationError(
                    f"firewall: {name} must be at least 1", hint=f"set {name} to 1 or more"
                )

    def networks(self, version: int) -> list[str]:
        """The private networks of one IP version, as nft writes them."""
        return [str(net) for net in map(_network, self.private_networks) if net.version == version]


def _check_ports(field: str, ports: tuple[int, ...]) -> None:
    bad = [port for port in ports if not 1 <= port <= 65535]
    if bad:
        raise ConfigurationError(
            f"firewall: {field} has port(s) outside 1-65535: {', '.join(map(str, bad))}",
            hint="a TCP port is a number from 1 to 65535",
        )
    repeated = sorted({port for port in ports if ports.count(port) > 1})
    if repeated:
        raise ConfigurationError(
            f"firewall: {field} lists port(s) {', '.join(map(str, repeated))} more than once",
            hint="list each port once",
        )


def _network(text: str) -> Network:
    return network_setting(
        text,
        what="firewall: private network",
        example="10.0.0.0/16 or fd00:1::/64",
        everything="name the application hosts' private network (e.g. your VPC's subnet), not every address",
    )


def render_firewall(settings: FirewallSettings | None = None) -> str:
    """The nftables ruleset for a production host (``nft -f`` loads it; loading it again replaces it)."""
    settings = settings or FirewallSettings()

    def named(ports: tuple[int, ...]) -> list[tuple[int, str]]:
        return [(port, PORT_NAMES.get(port, "")) for port in sorted(ports)]

    return render_template(
        "host/nftables.conf.j2",
        table=TABLE,
        public_ports=named(settings.public_tcp_ports),
        private_ports=named(settings.private_tcp_ports),
        private_v4=settings.networks(4),
        private_v6=settings.networks(6),
        ssh_port=settings.ssh_port,
        ssh_rate=settings.ssh_new_connections_per_minute,
        ssh_burst=settings.ssh_burst,
        log_rate=settings.logged_drops_per_minute,
    )


def firewall_files() -> dict[str, str]:
    """The committed firewall, keyed by its path in the repository."""
    return {FIREWALL_FILE: render_firewall()}
