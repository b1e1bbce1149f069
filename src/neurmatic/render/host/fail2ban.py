"""fail2ban for production hosts: two filters over nginx's access log and the jails that use them.

- ``neurmatic-signin``: failed sign-ins (401 from the API, 429 from nginx's sign-in limit) on the sign-in
  paths that nginx limits (templates/nginx.conf.j2);
- ``neurmatic-scanner``: 404s that nginx answered itself, i.e. well-known scanner probes (/wp-login.php,
  /.env, ...), never the API's own 404s;
- ``sshd``: Debian's own filter, read from the systemd journal (Debian 12 has no /var/log/auth.log
  without rsyslog).

Every nginx jail bans from the web ports (80/443) only, never SSH: an address that many people share
(carrier-grade NAT, an office, the operator testing) must not lose the way in to the host.
``ignore_addresses`` (``ignoreip``) names the addresses never banned at all: the host itself by default,
plus an office's or a monitoring service's fixed addresses where the operator adds them.

``fail2ban_files()`` gives the files as ``infrastructure/`` paths → text; ``neurmatic render`` writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from neurmatic.render import render_template
from neurmatic.render.host import network_setting

OUT = "infrastructure/host/fail2ban"
TEMPLATES = "host/fail2ban"

# On the host: compose bind-mounts this directory at the nginx container's /var/log/nginx (see the jail file).
NGINX_LOG_DIR = "/var/log/nginx"
NGINX_ACCESS_LOG = f"{NGINX_LOG_DIR}/access.log"

# Every path that shares nginx's sign-in limit (its `location ~ ^/(?:api/v1/auth/...)$` in nginx.conf.j2).
SIGNIN_PATHS = ("/api/v1/auth/login", "/api/v1/auth/2fa/challenge", "/admin/login")
SIGNIN_PATH_REGEX = "api/v1/auth/(?:login|2fa/challenge)|admin/login"

# Never banned (fail2ban's ignoreip): this host itself. An office's or a monitoring service's fixed
# addresses go here too, as CIDRs (render parameter ``ignore_addresses``).
IGNORE_ADDRESSES = ("127.0.0.0/8", "::1/128")

# The nginx jails' chain in fail2ban's table: prerouting, before the container runtime's DNAT (-100).
EDGE_CHAIN = "f2b-edge"
EDGE_CHAIN_PRIORITY = -150


@dataclass(frozen=True)
class Jail:
    name: str
    reason: str
    maxretry: int
    findtime: str
    bantime: str
    port: str
    backend: str
    banaction: str = "nftables-multiport"
    filter: str = ""  # empty: the jail's own name (Debian's sshd)
    logpath: str = ""  # empty: the journal (backend systemd)
    edge: bool = False  # traffic to the published web ports: the prerouting chain


def jails(nginx_access_log: str = NGINX_ACCESS_LOG) -> tuple[Jail, ...]:
    return (
        Jail(
            name="neurmatic-signin",
            reason=(
                "Failed sign-ins: 10 in 10 min bans the address from the web ports for 1 h. nginx lets an "
                "address try 5 a minute (burst 5), so a guesser gets at most ~10 tries before the ban "
                "instead of ~50 per 10 min forever; a person who forgot a password stops well before ten."
            ),
            maxretry=10,
            findtime="10m",
            bantime="1h",
            port="http,https",
            backend="auto",
            filter="neurmatic-signin",
            logpath=nginx_access_log,
            edge=True,
        ),
        Jail(
            name="neurmatic-scanner",
            reason=(
                "Scanners: 20 probes in 1 min bans the address from the web ports for a day (SSH stays "
                "open: a shared address, such as carrier-grade NAT or an office, must not lock the operator "
                "out). A scanner sends hundreds of probes in a burst; a browser never asks for /wp-login.php "
                "or /.env at all."
            ),
            maxretry=20,
            findtime="1m",
            bantime="1d",
            port="http,https",
            backend="auto",
            filter="neurmatic-scanner",
            logpath=nginx_access_log,
            edge=True,
        ),
        Jail(
            name="sshd",
            reason=(
                "SSH (Debian's own sshd filter, mode normal): 5 failures in 10 min bans the "
                "address from SSH for 1 h. backend systemd: Debian 12 logs sshd to the journal only."
            ),
            maxretry=5,
            findtime="10m",
            bantime="1h",
            port="ssh",
            backend="systemd",
        ),
    )


def ignored_networks(addresses: Iterable[str]) -> tuple[str, ...]:
    """``addresses`` as fail2ban's ``ignoreip`` writes them (CIDRs, each once, in order); a
    :class:`ConfigurationError` for one that is not an address or a network."""
    networks: list[str] = []
    for text in addresses:
        network = network_setting(
            text,
            what="fail2ban: ignore address",
            example="203.0.113.7, 203.0.113.0/24 or 2001:db8::/48",
            everything="no one could ever be banned: list the office's or the monitoring service's addresses",
        )
        if str(network) not in networks:
            networks.append(str(network))
    return tuple(networks)


def fail2ban_files(
    nginx_access_log: str = NGINX_ACCESS_LOG, ignore_addresses: Iterable[str] = IGNORE_ADDRESSES
) -> dict[str, str]:
    """The filters and the jail file, by their path under the repository (``infrastructure/host/...``).

    ``ignore_addresses``: the CIDRs never banned (``ignoreip``); the default is loopback only. Add the
    addresses that many people share and that must never be banned (an office's NAT, an uptime checker),
    e.g. ``(*IGNORE_ADDRESSES, "203.0.113.7/32")``."""
    context = {
        "signin_paths": SIGNIN_PATHS,
        "signin_path_regex": SIGNIN_PATH_REGEX,
        "jails": jails(nginx_access_log),
        "ignore_addresses": ignored_networks(ignore_addresses),
        "nginx_access_log": nginx_access_log,
        "nginx_log_dir": nginx_access_log.rsplit("/", 1)[0],
        "edge_chain": EDGE_CHAIN,
        "edge_chain_priority": EDGE_CHAIN_PRIORITY,
    }
    names = (
        "filter.d/neurmatic-signin.conf",
        "filter.d/neurmatic-scanner.conf",
        "jail.d/neurmatic.local",
    )
    return {f"{OUT}/{name}": render_template(f"{TEMPLATES}/{name}.j2", **context) for name in names}
