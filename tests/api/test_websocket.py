"""Every malformed frame on /api/v1/ws gets a close frame whose code names the fault, before and after
authentication, read by a real WebSocket client from a real server (an API instance of the topology, and
once through nginx)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import RunningTopology
from tests.support import register_and_login
from tests.websocket_client import LiveSocket, open_socket

OVERSIZE = json.dumps({"type": "auth", "token": "x" * 5000})
MALFORMED: list[tuple[str, str | bytes, int]] = [
    ("binary", b'{"type": "auth"}', 1003),
    ("not JSON", "{'type': 'auth'", 1007),
    ("not an object", '["auth"]', 1008),
    ("no type", '{"token": "abc"}', 1008),
    ("a type that is not a string", '{"type": 7}', 1008),
    ("too big", OVERSIZE, 1009),
    ("nested too deeply", "[" * 2040 + "]" * 2040, 1008),  # under 4 KB; once a RecursionError
]


@contextmanager
def _socket(topology: RunningTopology, *, through_nginx: bool = False) -> Iterator[LiveSocket]:
    ports = topology.state.ports
    if through_nginx:
        context = ssl.create_default_context(cafile=str(topology.ca))
        with open_socket(f"wss://127.0.0.1:{ports.https}/api/v1/ws", ssl_context=context) as socket:
            yield socket
    else:
        with open_socket(f"ws://127.0.0.1:{ports.api(1)}/api/v1/ws") as socket:
            yield socket


def _close_code(socket: LiveSocket) -> int | None:
    """The code of the close frame the server sent (None: the connection dropped without one)."""
    try:
        while True:
            socket.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


@pytest.fixture(scope="module")
def token(topology: RunningTopology) -> str:
    with topology.client() as client:
        _, signed_in = register_and_login(client, "ws")
    return str(signed_in.json()["data"]["accessToken"])


@pytest.mark.parametrize(("fault", "frame", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_first_frame_gets_its_close_code(
    topology: RunningTopology, fault: str, frame: str | bytes, code: int
) -> None:
    with _socket(topology) as socket:
        socket.send(frame)
        assert _close_code(socket) == code, fault


@pytest.mark.parametrize(("fault", "frame", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_frame_after_sign_in_gets_its_close_code(
    topology: RunningTopology, token: str, fault: str, frame: str | bytes, code: int
) -> None:
    with _socket(topology) as socket:
        socket.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}
        socket.send(frame)
        assert _close_code(socket) == code, fault


def test_an_unknown_message_type_or_a_bad_token_is_refused(topology: RunningTopology, token: str) -> None:
    with _socket(topology) as socket:
        socket.send(json.dumps({"type": "subscribe", "token": token}))
        unknown_first = _close_code(socket)
    with _socket(topology) as socket:
        socket.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        bad_token = _close_code(socket)
    with _socket(topology) as socket:
        socket.send('{"type": "auth", "token": "\\ud800"}')  # a lone surrogate: once a UnicodeEncodeError
        surrogate_token = _close_code(socket)
    with _socket(topology) as socket:
        socket.send(json.dumps({"type": "auth", "token": token}))
        socket.recv(timeout=10)
        socket.send(json.dumps({"type": "subscribe"}))
        unknown_later = _close_code(socket)
    assert (unknown_first, bad_token, surrogate_token, unknown_later) == (4401, 4401, 4401, 1008)


def test_a_binary_frame_through_nginx_gets_1003(topology: RunningTopology) -> None:
    with _socket(topology, through_nginx=True) as socket:
        socket.send(b"\x00\x01")
        assert _close_code(socket) == 1003
