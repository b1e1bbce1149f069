"""The /api/v1/ws WebSocket: live notifications, and the small protocol a client speaks on it.

A client sends JSON text frames only: first ``{"type": "auth", "token": <access token>}`` (never a token in
the URL, which proxies write to their access logs), then ``{"type": "ping"}`` whenever it likes (answered
``{"type": "pong"}``). The server sends ``ready``, ``notification`` and ``ping`` frames.

Every frame outside that protocol closes the socket with the close code that names the fault (RFC 6455
§7.4.1), never with a dropped connection: a binary frame once raised ``KeyError: 'text'`` and the socket
went away without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette import status

from neurmatic.api.outages import is_outage
from neurmatic.api.state import clients_of
from neurmatic.errors import AuthenticationRequired, NeurmaticError

router = APIRouter(tags=["notifications"])
AUTH_TIMEOUT_SECONDS = 10
HEARTBEAT_SECONDS = 25
MAX_MESSAGE_BYTES = 4096  # an auth frame (a JWT) is well under 1 KB
CLOSE_UNAUTHENTICATED = 4401  # private range (4000-4999): "sign in again", like HTTP 401
CLOSE_REASON_BYTES = 123  # a close frame's payload is 125 bytes, two of them the code


class MalformedFrame(NeurmaticError):
    """A frame outside the protocol, with the close code that says why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def receive_message(socket: WebSocket, timeout: float) -> dict[str, Any]:
    """The next frame as a JSON object with a string ``type``. Raises MalformedFrame for anything else,
    WebSocketDisconnect when the client went away, TimeoutError when nothing came in ``timeout``."""
    message = await asyncio.wait_for(socket.receive(), timeout)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", status.WS_1000_NORMAL_CLOSURE))
    text = message.get("text")
    if text is None:
        raise MalformedFrame(
            status.WS_1003_UNSUPPORTED_DATA, "binary frames are not supported; send JSON text"
        )
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MalformedFrame(
            status.WS_1009_MESSAGE_TOO_BIG, f"messages are limited to {MAX_MESSAGE_BYTES} bytes"
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedFrame(status.WS_1007_INVALID_FRAME_PAYLOAD_DATA, "a message must be JSON") from exc
    except RecursionError as exc:  # '[' * 2000 fits in 4 KB and exhausts the parser's stack
        raise MalformedFrame(status.WS_1008_POLICY_VIOLATION, "a message is nested too deeply") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedFrame(status.WS_1008_POLICY_VIOLATION, 'a message must be an object with a "type"')
    return data


async def _authenticate(socket: WebSocket) -> tuple[str, str]:
    """(user id, session id) from the first frame, which must be ``{"type": "auth", "token": ...}``."""
    clients = clients_of(socket)
    try:
        message = await receive_message(socket, AUTH_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        raise AuthenticationRequired('send {"type": "auth", "token": ...} first') from exc
    token = message.get("token")
    if message["type"] != "auth" or not isinstance(token, str):
        raise AuthenticationRequired('send {"type": "auth", "token": ...} first')
    claims = clients.tokens.decode_access(token)
    if not await clients.sessions.is_active(claims.session_id, claims.user_id):
        raise AuthenticationRequired("this session has ended")
    return claims.user_id, claims.session_id


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the client may be gone already
        await socket.close(code, reason.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore"))


@router.websocket("/ws")
async def live(socket: WebSocket) -> None:
    await socket.accept()
    try:
        user_id, session_id = await _authenticate(socket)
        await _serve(socket, user_id, session_id)
    except AuthenticationRequired as exc:
        await _close(socket, CLOSE_UNAUTHENTICATED, exc.message)
    except MalformedFrame as exc:
        await _close(socket, exc.code, exc.reason)
    except WebSocketDisconnect:
        pass
    except Exception as exc:
        if not is_outage(exc):
            raise
        await _close(socket, status.WS_1013_TRY_AGAIN_LATER, "a service is briefly unavailable; reconnect")


async def _serve(socket: WebSocket, user_id: str, session_id: str) -> None:
    """Deliver this user's notifications until the client leaves, breaks the protocol or the session ends."""
    clients = clients_of(socket)
    hub = socket.app.state.hub
    hub.add(user_id, socket)
    try:
        await socket.send_text(json.dumps({"type": "ready", "instance": clients.settings.app.instance}))
        while True:
            try:
                message = await receive_message(socket, HEARTBEAT_SECONDS)
            except TimeoutError:
                # Heartbeat: keeps idle proxies from closing the socket, and ends it when the session did.
                if not await clients.sessions.is_active(session_id, user_id):
                    raise AuthenticationRequired("session ended") from None
                await socket.send_text(json.dumps({"type": "ping"}))
                continue
            if message["type"] != "ping":
                raise MalformedFrame(
                    status.WS_1008_POLICY_VIOLATION, 'unknown message type; send {"type": "ping"}'
                )
            await socket.send_text(json.dumps({"type": "pong"}))
    finally:
        hub.remove(user_id, socket)
