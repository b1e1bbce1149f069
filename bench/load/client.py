"""Locust's FastHttpUser connections from a chosen source address, with TLS verified against a given CA.

geventhttpclient has no source-address option, so the pool of each new ``HTTPClient`` gets a socket
factory that binds the socket before it connects. One pool per simulated user: every user is one client
address, as every browser is in production, and nginx's and the app's per-address limits see it so.
"""

from __future__ import annotations

import socket
from typing import Any

from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.url import URL


class SourceBoundClientPool(HTTPClientPool):
    """HTTPClientPool whose connections leave from ``source`` and trust only ``ca_file``."""

    def __init__(self, source: str, ca_file: str, **kw: Any) -> None:
        kw["insecure"] = False
        kw["ssl_options"] = {"ca_certs": ca_file}
        super().__init__(**kw)
        self.source = source

    def get_client(self, url: str | URL) -> HTTPClient:
        url = url if isinstance(url, URL) else URL(url)
        fresh = (url.host, url.port) not in self.clients
        client = super().get_client(url)
        if fresh:
            _bind_source(client, self.source)
        return client


def _bind_source(client: HTTPClient, source: str) -> None:
    pool = client._connection_pool
    create = pool._create_tcp_socket

    def create_bound(family: int, socktype: int, protocol: int) -> socket.socket:
        sock: socket.socket = create(family, socktype, protocol)
        sock.bind((source, 0))
        return sock

    vars(pool)["_create_tcp_socket"] = create_bound  # this pool's own, shadowing the class's method


def source_address(worker: int, index: int) -> str:
    """The loopback address of simulated user ``index`` of Locust process ``worker`` (all of 127/8 is
    loopback on Linux); 250 x 256 users per process."""
    return f"127.{20 + worker}.{index // 250}.{index % 250 + 1}"
