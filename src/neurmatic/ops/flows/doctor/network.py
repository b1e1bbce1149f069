"""The network findings: our nftables table loaded, and what listens beyond loopback against it."""

from __future__ import annotations

import ipaddress
import socket

import psutil

from neurmatic.health import Status
from neurmatic.ops.flows.doctor.model import Audit, Finding, run_tool
from neurmatic.render.host.firewall import FIREWALL_FILE, TABLE

FIREWALL_TABLE = ("inet", TABLE)
CONTAINER_PROXIES = {"docker-proxy", "rootlessport", "rootlesskit", "slirp4netns"}


def firewall(_audit: Audit) -> Finding:
    result = run_tool(["nft", "list", "table", *FIREWALL_TABLE])
    fix = f"nft -f {FIREWALL_FILE} (and include it from /etc/nftables.conf: docs/operations.md)"
    if result is None:
        return Finding("firewall", Status.DOWN, "nftables is not installed", "apt-get install -y nftables")
    if result.returncode != 0:
        return Finding("firewall", Status.DOWN, f"table {' '.join(FIREWALL_TABLE)} is not loaded", fix)
    if "policy drop" not in result.stdout:
        return Finding("firewall", Status.DOWN, "the input chain does not drop by default", fix)
    return Finding("firewall", Status.UP, "our rules are loaded (input policy drop)")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def listening_ports(audit: Audit, firewall_active: bool) -> Finding:
    """Every TCP port listening beyond loopback: the public ones are meant to be; a private one is fine
    only while the firewall admits it from the private network alone; anything else is exposed."""
    public = set(audit.firewall.public_tcp_ports)
    private = set(audit.firewall.private_tcp_ports)
    exposed: list[str] = []
    filtered: list[int] = []
    for connection in psutil.net_connections(kind="inet"):
        udp = connection.type == socket.SOCK_DGRAM
        if not connection.laddr or (not udp and connection.status != psutil.CONN_LISTEN):
            continue
        address, port = connection.laddr.ip, connection.laddr.port
        if _is_loopback(address) or (port in public and not udp):
            continue
        process = _process_name(connection.pid)
        # A container runtime's proxy stands for a published port: Docker's DNAT sends those packets past
        # the input hook, so our firewall never sees them (only what compose publishes decides).
        if port in private and firewall_active and not udp and process not in CONTAINER_PROXIES:
            filtered.append(port)
            continue
        if udp and firewall_active:
            continue  # the firewall admits no new UDP at all
        exposed.append(f"{port}/{'udp' if udp else 'tcp'} ({process} on {address})")
    if exposed:
        return Finding(
            "open ports",
            Status.DOWN,
            f"reachable beyond 22/80/443: {', '.join(sorted(set(exposed)))}",
            "bind these to 127.0.0.1 or the private address; apply the firewall for the private ports",
        )
    note = f"; {', '.join(map(str, sorted(set(filtered))))} from the private network only" if filtered else ""
    return Finding("open ports", Status.UP, f"only {'/'.join(map(str, sorted(public)))} from anywhere{note}")


def _process_name(pid: int | None) -> str:
    if pid is None:
        return "?"
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return str(pid)
