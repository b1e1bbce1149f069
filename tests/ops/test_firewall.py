"""The production hosts' firewall: nft accepts the rendered ruleset, its settings are validated, and loaded
for real in a network namespace it lets the public reach only SSH, HTTP and HTTPS while the private
network reaches every service (IPv4 and IPv6), limits SSH per source, and loads again idempotently."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurmatic.errors import ConfigurationError
from neurmatic.render.host.firewall import (
    FIREWALL_FILE,
    PRIVATE_TCP_PORTS,
    PUBLIC_TCP_PORTS,
    FirewallSettings,
    firewall_files,
    render_firewall,
)
from neurmatic.render.monitoring import production_prometheus
from tests.support import require_binary, unavailable

# The test's private network (the application hosts') and its "internet": documentation ranges that no
# real route uses.
PRIVATE_V4, PUBLIC_V4 = "10.231.1", "198.51.100"
PRIVATE_V6, PUBLIC_V6 = "fd31:231:1:", "2001:db8:231:"
SETTINGS = FirewallSettings(private_networks=(f"{PRIVATE_V4}.0/24", f"{PRIVATE_V6}:/64"))
LISTENED = (22, 80, 443, 5432, 6379, 2379, 9100)
PUBLIC = {22, 80, 443}
TIMEOUT = 0.5  # a dropped SYN never answers: waiting longer proves nothing more

LISTENER = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too, as ::ffff:a.b.c.d
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    sock.listen(64)
    sel.register(sock, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        key.fileobj.accept()[0].close()
"""

PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
host, timeout, ports = sys.argv[1], float(sys.argv[2]), list(map(int, sys.argv[3:]))
def attempt(port):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return "open"
    except TimeoutError:
        return "dropped"
    except OSError as exc:
        return type(exc).__name__
with ThreadPoolExecutor(len(ports)) as pool:
    print(json.dumps(dict(zip(map(str, ports), pool.map(attempt, ports)))))
"""


def nft_check(path: Path) -> subprocess.CompletedProcess[str]:
    """``nft -c -f`` in a fresh network namespace: nft checks against the kernel, and the host's own
    ruleset is never touched (as non-root, inside a user namespace of our own)."""
    nft = require_binary("nft", "/usr/sbin/nft")
    unshare = require_binary("unshare", "/usr/bin/unshare")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return subprocess.run(
        [unshare, *user, "--net", nft, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "settings",
    [FirewallSettings(), SETTINGS, FirewallSettings(private_networks=())],
    ids=["committed", "ipv4-and-ipv6", "no-private-network"],
)
def test_nft_accepts_the_rendered_ruleset(tmp_path: Path, settings: FirewallSettings) -> None:
    path = tmp_path / "nftables.conf"
    path.write_text(render_firewall(settings))
    result = nft_check(path)
    assert result.returncode == 0, result.stderr


def test_the_committed_file_is_the_default_render() -> None:
    assert firewall_files() == {FIREWALL_FILE: render_firewall(FirewallSettings())}
    text = render_firewall()
    rules = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    # Our table only, replaced whole: never `flush ruleset`, which would delete the container runtime's.
    assert "flush ruleset" not in rules
    assert text.index("table inet neurmatic_filter\n") < text.index("delete table inet neurmatic_filter")
    assert "hook forward" not in rules and "hook input priority filter; policy drop;" in rules


def test_every_port_prometheus_scrapes_is_known_to_the_firewall() -> None:
    """A service moved to a port the firewall does not list would be cut off from its scraper."""
    scraped = {int(port) for port in re.findall(r"\b[a-z][a-z0-9-]*:(\d{2,5})\b", production_prometheus())}
    assert scraped <= set(PRIVATE_TCP_PORTS) | set(PUBLIC_TCP_PORTS)
    assert not scraped & set(PUBLIC_TCP_PORTS) - {443}  # only the blackbox probe of the edge is public


@pytest.mark.parametrize(
    ("settings", "message", "hint"),
    [
        ({"public_tcp_ports": (22, 80, 0)}, "outside 1-65535: 0", "1 to 65535"),
        ({"private_tcp_ports": (5432, 70000)}, "outside 1-65535: 70000", "1 to 65535"),
        ({"private_tcp_ports": (5432, 5432)}, "5432 more than once", "once"),
        ({"private_tcp_ports": (5432, 443)}, "443 are both public and private", "list each port once"),
        ({"ssh_port": 2222}, "ssh_port 2222 is not one of the public ports", "public_tcp_ports"),
        ({"private_networks": ("10.0.0/33",)}, "'10.0.0/33' is not an address or a CIDR", "10.0.0.0/16"),
        ({"private_networks": ("private",)}, "'private' is not an address or a CIDR", "10.0.0.0/16"),
        ({"private_networks": ("10.1.2.3/16",)}, "has host bits set", "did you mean 10.1.0.0/16?"),
        ({"private_networks": ("0.0.0.0/0",)}, "is every address", "VPC"),
        ({"private_networks": ("::/0",)}, "is every address", "VPC"),
        ({"private_networks": ("10.0.0.0/8", "10.1.0.0/16")}, "10.0.0.0/8 and 10.1.0.0/16 overlap", "larger"),
        ({"ssh_burst": 0}, "ssh_burst must be at least 1", "1 or more"),
    ],
)
def test_invalid_settings_are_refused_with_a_hint(
    settings: dict[str, object], message: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        FirewallSettings(**settings)  # type: ignore[arg-type]
    assert message in raised.value.message
    assert raised.value.hint is not None and hint in raised.value.hint


def test_one_network_of_each_version_and_single_addresses_are_accepted() -> None:
    settings = FirewallSettings(private_networks=("10.0.0.0/8", "fd00::/8", "192.168.1.7", "2001:db8::/32"))
    assert settings.networks(4) == ["10.0.0.0/8", "192.168.1.7/32"]
    assert settings.networks(6) == ["fd00::/8", "2001:db8::/32"]


@dataclass(frozen=True)
class Hosts:
    """The firewalled server's namespace and its two peers, each on a veth link of its own."""

    server: str
    private: str
    public: str
    ruleset: Path

    def run(self, namespace: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, timeout=timeout
        )

    def probe(self, peer: str, address: str, ports: tuple[int, ...]) -> dict[int, str]:
        result = self.run(peer, sys.executable, "-c", PROBE, address, str(TIMEOUT), *map(str, ports))
        assert result.returncode == 0, result.stderr
        return {int(port): outcome for port, outcome in json.loads(result.stdout).items()}


def ip(*argv: str) -> None:
    result = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        unavailable(f"`ip {' '.join(argv)}` failed (network namespaces need root): {result.stderr.strip()}")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    """Three network namespaces named after this process (parallel runs never clash): the server with the
    rendered firewall loaded and listeners on LISTENED, a peer on the private network and one outside it.
    The veth ends are created inside the namespaces, so their names are private to each run too."""
    if os.geteuid() != 0:
        unavailable("the firewall test loads rules in network namespaces: it needs root")
    require_binary("ip", "/usr/sbin/ip")
    require_binary("nft", "/usr/sbin/nft")
    prefix = f"nmfw{os.getpid()}-{secrets.token_hex(2)}"  # and unique even where lanes share pids
    hosts = Hosts(f"{prefix}-srv", f"{prefix}-private", f"{prefix}-public", tmp_path / "nftables.conf")
    hosts.ruleset.write_text(render_firewall(SETTINGS))
    created: list[str] = []
    listener: subprocess.Popen[str] | None = None
    try:
        for namespace in (hosts.server, hosts.private, hosts.public):
            ip("netns", "add", namespace)
            created.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
        for peer, v4, v6 in ((hosts.private, PRIVATE_V4, PRIVATE_V6), (hosts.public, PUBLIC_V4, PUBLIC_V6)):
            link = "private0" if peer == hosts.private else "public0"
            ip(
                "link",
                "add",
                link,
                "netns",
                hosts.server,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                peer,
            )
            for namespace, device, host in ((hosts.server, link, 1), (peer, "eth0", 2)):
                ip("-n", namespace, "addr", "add", f"{v4}.{host}/24", "dev", device)
                ip("-n", namespace, "-6", "addr", "add", f"{v6}:{host}/64", "dev", device, "nodad")
                ip("-n", namespace, "link", "set", device, "up")
        loaded = hosts.run(hosts.server, "nft", "-f", str(hosts.ruleset))
        assert loaded.returncode == 0, loaded.stderr
        listener = subprocess.Popen(
            ["ip", "netns", "exec", hosts.server, sys.executable, "-c", LISTENER, *map(str, LISTENED)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        yield hosts
    finally:
        if listener is not None:
            listener.kill()
            listener.wait(timeout=10)
        for namespace in created:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30)


@pytest.mark.parametrize("version", [4, 6])
def test_the_public_reaches_only_ssh_http_and_https(hosts: Hosts, version: int) -> None:
    address = f"{PUBLIC_V4}.1" if version == 4 else f"{PUBLIC_V6}:1"
    outcomes = hosts.probe(hosts.public, address, LISTENED)
    assert outcomes == {port: "open" if port in PUBLIC else "dropped" for port in LISTENED}


@pytest.mark.parametrize("version", [4, 6])
def test_the_private_network_reaches_every_service(hosts: Hosts, version: int) -> None:
    address = f"{PRIVATE_V4}.1" if version == 4 else f"{PRIVATE_V6}:1"
    assert hosts.probe(hosts.private, address, LISTENED) == dict.fromkeys(LISTENED, "open")


def test_ssh_is_rate_limited_per_source(hosts: Hosts) -> None:
    burst = SETTINGS.ssh_burst
    attempts = [hosts.probe(hosts.public, f"{PUBLIC_V4}.1", (22,))[22] for _ in range(burst + 3)]
    assert attempts[:burst] == ["open"] * burst
    assert "dropped" in attempts[burst:]
    # Another source has a limiter of its own, and the public's HTTPS is not limited.
    assert hosts.probe(hosts.private, f"{PRIVATE_V4}.1", (22,)) == {22: "open"}
    assert hosts.probe(hosts.public, f"{PUBLIC_V4}.1", (443,)) == {443: "open"}


def test_loading_again_replaces_the_table(hosts: Hosts) -> None:
    def listing() -> str:
        result = hosts.run(hosts.server, "nft", "list", "table", "inet", "neurmatic_filter")
        assert result.returncode == 0, result.stderr
        return re.sub(r"counter packets \d+ bytes \d+", "counter", result.stdout)

    before = listing()
    # A table of the container runtime's survives our load.
    assert hosts.run(hosts.server, "nft", "add", "table", "ip", "docker_like").returncode == 0
    again = hosts.run(hosts.server, "nft", "-f", str(hosts.ruleset))
    assert again.returncode == 0, again.stderr
    assert listing() == before
    assert "table ip docker_like" in hosts.run(hosts.server, "nft", "list", "tables").stdout
    assert hosts.probe(hosts.public, f"{PUBLIC_V4}.1", (80, 5432)) == {80: "open", 5432: "dropped"}
