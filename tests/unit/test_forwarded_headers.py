"""The proxy's headers, applied by the app (uvicorn runs without ``--proxy-headers``): believed from a
trusted proxy only, as uvicorn did."""

from __future__ import annotations

from typing import Any

import pytest

from neurmatic.api.security.client_ip import ForwardedHeaders, client_ip_of_scope
from neurmatic.api.security.internal_peer import is_internal_peer

TRUSTED = ["127.0.0.1", "10.0.0.0/8"]


def _scope(peer: str, *headers: tuple[bytes, bytes], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": (peer, 5000),
        "headers": list(headers),
    }


def test_from_a_trusted_proxy_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    scope = _scope("127.0.0.1", (b"x-forwarded-for", b"198.51.100.7, 203.0.113.9, 10.1.2.3"))
    ForwardedHeaders(TRUSTED).apply(scope)
    assert scope["client"] == ("203.0.113.9", 0)


def test_from_anyone_else_the_headers_are_ignored() -> None:
    scope = _scope("203.0.113.50", (b"x-forwarded-for", b"10.9.9.9"), (b"x-forwarded-proto", b"https"))
    ForwardedHeaders(TRUSTED).apply(scope)
    assert (scope["client"], scope["scheme"]) == (("203.0.113.50", 5000), "http")


def test_every_hop_trusted_gives_the_leftmost_and_no_header_keeps_the_peer() -> None:
    chained = _scope("127.0.0.1", (b"x-forwarded-for", b"10.0.0.2, 10.0.0.3"))
    direct = _scope("127.0.0.1")
    ForwardedHeaders(TRUSTED).apply(chained)
    ForwardedHeaders(TRUSTED).apply(direct)
    assert (chained["client"], direct["client"]) == (("10.0.0.2", 0), ("127.0.0.1", 5000))


@pytest.mark.parametrize(
    ("kind", "proto", "scheme"),
    [
        ("http", b"https", "https"),
        ("websocket", b"https", "wss"),
        ("http", b"gopher", "http"),
        ("http", b" https ", "https"),
    ],
)
def test_the_forwarded_scheme_is_taken_when_it_is_one_the_app_speaks(
    kind: str, proto: bytes, scheme: str
) -> None:
    scope = _scope("127.0.0.1", (b"x-forwarded-proto", proto), kind=kind)
    ForwardedHeaders(TRUSTED).apply(scope)
    assert scope["scheme"] == scheme


def test_a_header_too_long_to_be_an_address_is_not_trusted() -> None:
    scope = _scope("127.0.0.1", (b"x-forwarded-for", b"1" * 5000))
    ForwardedHeaders(TRUSTED).apply(scope)
    assert scope["client"] == ("1" * 5000, 0)


def test_a_websockets_header_names_are_lowercased_before_they_are_read() -> None:
    # uvicorn's WebSocket implementation keeps names as written: nginx writes X-Forwarded-For.
    scope = _scope(
        "127.0.0.1", (b"X-Forwarded-For", b"203.0.113.9"), (b"X-Forwarded-Proto", b"https"), kind="websocket"
    )
    ForwardedHeaders(TRUSTED).apply(scope)
    assert (scope["client"], scope["scheme"]) == (("203.0.113.9", 0), "wss")
    assert (b"x-forwarded-for", b"203.0.113.9") in scope["headers"]


def test_the_address_found_is_what_the_rate_limits_read() -> None:
    scope = _scope("127.0.0.1", (b"x-forwarded-for", b"203.0.113.9"))
    ForwardedHeaders(TRUSTED).apply(scope)
    assert client_ip_of_scope(scope, TRUSTED) == "203.0.113.9"


@pytest.mark.parametrize(
    ("peer", "headers", "internal"),
    [
        ("127.0.0.1", [], True),
        ("10.2.3.4", [], True),
        ("203.0.113.9", [], False),
        ("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.9")], False),
        ("127.0.0.1", [(b"X-Forwarded-For", b"10.0.0.1")], False),  # relayed, whatever the case
    ],
)
def test_only_a_direct_peer_on_the_internal_network_is_internal(
    peer: str, headers: list[tuple[bytes, bytes]], internal: bool
) -> None:
    assert is_internal_peer(_scope(peer, *headers, kind="websocket")) is internal
