"""A notification raised on one backend reaches a WebSocket connected through nginx to the other."""

from __future__ import annotations

import json
import ssl

import httpx
from websockets.exceptions import ConnectionClosed

from tests.conftest import RunningTopology
from tests.support import bearer, signed_in_token
from tests.websocket_client import open_socket


def _signed_in(topology: RunningTopology) -> str:
    with topology.client() as client:
        return signed_in_token(client, "live")


def test_event_from_one_backend_reaches_a_socket_on_the_other(topology: RunningTopology) -> None:
    token = _signed_in(topology)
    context = ssl.create_default_context(cafile=str(topology.ca))
    uri = f"wss://127.0.0.1:{topology.state.ports.https}/api/v1/ws"
    with open_socket(uri, ssl_context=context) as socket:
        socket.send(json.dumps({"type": "auth", "token": token}))
        ready = json.loads(socket.recv(timeout=10))
        assert ready["type"] == "ready"
        holder = ready["instance"]
        other = "backend-2" if holder == "backend-1" else "backend-1"
        port = topology.state.ports.api(int(other.rsplit("-", 1)[1]))
        raised = httpx.post(f"http://127.0.0.1:{port}/api/v1/notifications/test", headers=bearer(token))
        assert raised.status_code == 201
        pushed = json.loads(socket.recv(timeout=10))
        socket.send(json.dumps({"type": "ping"}))
        pong = json.loads(socket.recv(timeout=10))
    assert pushed["type"] == "notification"
    assert pushed["notification"]["data"]["instance"] == other != holder
    assert pong == {"type": "pong"}
    with topology.client() as client:
        listed = client.get("/api/v1/notifications?unread=true", headers=bearer(token))
        marked = client.post("/api/v1/notifications/read-all", headers=bearer(token))
        after = client.get("/api/v1/notifications?unread=true", headers=bearer(token))
    assert [n["kind"] for n in listed.json()["data"]] == ["test"]
    assert marked.json()["data"]["marked"] == 1 and after.json()["data"] == []


def test_a_socket_without_a_valid_token_is_closed(topology: RunningTopology) -> None:
    context = ssl.create_default_context(cafile=str(topology.ca))
    uri = f"wss://127.0.0.1:{topology.state.ports.https}/api/v1/ws"
    with open_socket(uri, ssl_context=context) as socket:
        socket.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        try:
            socket.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401
            return
    raise AssertionError("the server kept an unauthenticated socket open")
