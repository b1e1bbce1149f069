"""The client's address: ``X-Forwarded-For`` is believed only when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache

from starlette.requests import HTTPConnection
from starlette.types import Scope

from neurmatic.api.memo import remembered_when_short

_LONGEST_ADDRESS = 45
APPLIED_CLIENT = "neurmatic.client_ip"  # the scope key where ForwardedHeaders leaves the client's address


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
    applied = scope.get(APPLIED_CLIENT)
    if applied is not None:  # ForwardedHeaders found it already, with these proxies
        return str(applied)
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    is_trusted = _trust_check(tuple(trusted_proxies))
    if not is_trusted(peer):
        return peer
    forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
    return _first_untrusted_hop(forwarded, peer, is_trusted)


def _first_untrusted_hop(forwarded: list[bytes], peer: str, is_trusted: Callable[[str], bool]) -> str:
    """Walk the ``X-Forwarded-For`` values from the right past trusted hops; the leftmost when every
    hop is trusted, the peer when there are none."""
    hops = [hop.strip() for value in forwarded for hop in value.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


FORWARDED_SCHEMES = frozenset({"http", "https", "ws", "wss"})


class ForwardedHeaders:
    """What uvicorn's ``--proxy-headers`` did, done by the app: on a request from a trusted proxy, the
    client becomes the first untrusted hop of ``X-Forwarded-For`` from the right and the scheme the one
    ``X-Forwarded-Proto`` names. One middleware layer less, one address lookup less per request (the
    rate limits and the front door read the address found here), and the trust check remembered for
    8,192 addresses (uvicorn's for 4,096). Hops are bare addresses, as nginx writes them: a hop with a
    port is taken as written, and so is never trusted.
    """

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._is_trusted = _trust_check(tuple(trusted_proxies))

    def apply(self, scope: Scope) -> None:
        if scope["type"] == "websocket":
            # uvicorn's WebSocket implementation (websockets' sans-I/O) keeps header names as the client
            # wrote them; ASGI says lowercase, and every check of a header here compares lowercase names.
            scope["headers"] = [(name.lower(), value) for name, value in scope["headers"]]
        client = scope.get("client")
        if not client or not self._is_trusted(client[0]):
            return
        forwarded: list[bytes] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.append(value)
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip()
        if proto in FORWARDED_SCHEMES:
            scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
        if forwarded:
            address = _first_untrusted_hop(forwarded, client[0], self._is_trusted)
            scope["client"] = (address, 0)
            scope[APPLIED_CLIENT] = address
