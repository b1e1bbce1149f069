"""The client's address: ``X-Forwarded-For`` is believed only when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import HTTPConnection
from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


@lru_cache(maxsize=8192)  # parsing an address is a tenth of a cached read's CPU; clients repeat
def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(connection: HTTPConnection, trusted_proxies: Sequence[str]) -> str:
    """Walk ``X-Forwarded-For`` from the right, past trusted proxies, to the first address we did not
    put there ourselves; a client cannot spoof its address by sending the header directly."""
    return client_ip_of_scope(connection.scope, trusted_proxies)


def client_ip_of_scope(scope: Scope, trusted_proxies: Sequence[str]) -> str:
    """``client_ip`` of an ASGI scope (no request object needed)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not _is_trusted(peer, networks):
        return peer
    forwarded = ", ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer
