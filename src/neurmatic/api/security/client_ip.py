"""The client's address: ``X-Forwarded-For`` is believed only when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache

from starlette.requests import HTTPConnection
from starlette.types import Scope

from neurmatic.api.memo import remembered_when_short

_LONGEST_ADDRESS = 45


@lru_cache(maxsize=32)
def _trust_check(trusted: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether an address is in one of the ``trusted`` networks, remembered per address: parsing an
    address was a tenth of a cached read's CPU, and clients repeat. (Keyed by the address alone: a key
    holding the networks hashed each of them on every call.)"""
    networks = tuple(ipaddress.ip_network(item, strict=False) for item in trusted)

    # No address is longer (IPv6 with an embedded IPv4): longer keys, from a header the client writes,
    # are not kept (and are not addresses).
    @remembered_when_short(entries=8192, longest=_LONGEST_ADDRESS)
    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    return is_trusted


def client_ip(connection: HTTPConnection, trusted_proxies: Sequence[str]) -> str:
    """Walk ``X-Forwarded-For`` from the right, past trusted proxies, to the first address we did not
    put there ourselves; a client cannot spoof its address by sending the header directly."""
    return client_ip_of_scope(connection.scope, trusted_proxies)


def client_ip_of_scope(scope: Scope, trusted_proxies: Sequence[str]) -> str:
    """``client_ip`` of an ASGI scope (no request object needed)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    is_trusted = _trust_check(tuple(trusted_proxies))
    if not is_trusted(peer):
        return peer
    forwarded = ", ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer
