"""Who counts as the internal network: a peer on a private or loopback address that talks to the
instance directly. The one rule for everything only operators' machines may see: the scrape endpoint
(``/internal/metrics``), the health report's details, and the ``X-Served-By`` header.

nginx always adds ``X-Forwarded-For`` (``$proxy_add_x_forwarded_for``) to what it relays, so a request
that carries the header came through the edge, whatever the peer's address: the public is behind it.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.types import Scope

INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
)
FORWARDED_FOR = b"x-forwarded-for"


@functools.lru_cache(maxsize=4096)
def _on_internal_network(host: str) -> bool:
    """Cached: every request asks (the request-context middleware), and peers are few (nginx, scrapers)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in INTERNAL_NETWORKS)


def is_internal_peer(scope: Scope) -> bool:
    """True for a direct request from the internal network (HTTP or WebSocket scope)."""
    # The header first: it settles every request through the edge without looking the address up (the
    # edge's clients are many, and would churn the cache of addresses).
    # Lowercased here too (a WebSocket's names come as the client wrote them): this check guards what only
    # operators may see, so it does not rely on the caller having normalised them.
    if any(name.lower() == FORWARDED_FOR for name, _ in scope.get("headers", ())):
        return False
    client = scope.get("client")
    return client is not None and _on_internal_network(client[0])
