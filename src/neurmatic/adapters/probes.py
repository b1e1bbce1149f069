"""Light readiness probes for the supervisor: the standard library's sockets, http.client and ssl.

``neurmatic status`` asks every server of the topology at once and should answer in a blink. The full
clients (redis-py, httpx, psycopg) cost more to import (~0.4 s together) than the round trips they make
here, so the probes speak the servers' protocols directly: RESP for Redis and Sentinel (a pipelined
AUTH and the command) and HTTP/1.1 for the API, nginx, etcd and Patroni (``adapters/patroni.py``).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Sequence
from typing import BinaryIO

from neurmatic.errors import NeurmaticError

RespValue = str | int | list["RespValue"] | None


class ProbeError(NeurmaticError):
    """The server answered, but with an error (a refused password, an unknown command)."""


def redis_call(
    host: str, port: int, password: str | None, *commands: Sequence[str], timeout: float = 2.0
) -> list[RespValue]:
    """Send ``commands`` (after AUTH when a password is given) in one round trip; their replies."""
    sent = [("AUTH", password), *commands] if password else list(commands)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"".join(_encode(command) for command in sent))
        with sock.makefile("rb") as stream:
            replies = [_read(stream) for _ in sent]
    errors = [reply for reply in replies if isinstance(reply, ProbeError)]
    if errors:
        raise errors[0]
    return replies[1:] if password else replies  # type: ignore[return-value]


def redis_info(reply: RespValue) -> dict[str, str]:
    """The ``key:value`` lines of an INFO reply."""
    fields: dict[str, str] = {}
    for line in str(reply or "").splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value
    return fields


def _encode(command: Sequence[str]) -> bytes:
    parts = [part.encode() for part in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def _read(stream: BinaryIO) -> RespValue | ProbeError:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the server closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return ProbeError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(body)
        items = [_read(stream) for _ in range(max(count, 0))]
        return None if count < 0 else items  # type: ignore[return-value]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def http_status(
    host: str,
    port: int,
    path: str,
    *,
    timeout: float = 3.0,
    tls: ssl.SSLContext | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> int:
    """The status code of ``GET path`` (HTTP/1.1, one connection, closed after)."""
    headers = {"Connection": "close"}
    if basic_auth is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic_auth).encode()).decode()
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
        if tls is not None
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
