"""``neurmatic api``'s HTTP protocol (uvicorn's httptools, the writes of a loop turn sent together),
served by a real uvicorn on a loopback port: what a client reads is whole and in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import websockets

from neurmatic.api.http_protocol import HttpToolsTurnBuffered

BIG = b"x" * 3_000_000  # past the socket's buffer: the transport must pause and resume writing


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()  # connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": f"echo {message.get('text')}"})
        await send({"type": "websocket.close"})
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = BIG if path == "/big" else path.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=HttpToolsTurnBuffered, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout=10)


async def test_pipelined_requests_are_answered_whole_and_in_order() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        requests = b"".join(
            f"GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for name in ("first", "second", "third")
        )
        writer.write(requests + b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        received = await _read_all(reader)
        writer.close()
    bodies = [part.split(b"\r\n\r\n", 1)[1][: len(name) + 1] for part, name in _responses(received)]
    assert bodies == [b"/first", b"/second", b"/third", b"/last"]


def _responses(received: bytes) -> list[tuple[bytes, str]]:
    parts = received.split(b"HTTP/1.1 200 OK\r\n")[1:]
    return list(zip(parts, ("first", "second", "third", "last"), strict=True))


async def test_a_body_larger_than_the_socket_buffer_and_a_streamed_one_arrive_whole() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        received = await _read_all(reader)
        writer.close()
    streamed, big = received.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert b"transfer-encoding: chunked" in streamed and b"one " in streamed and b"three" in streamed
    assert big.split(b"\r\n\r\n", 1)[1] == BIG


async def test_a_websocket_upgrade_still_works() -> None:
    async with serving() as port, websockets.connect(f"ws://127.0.0.1:{port}/socket") as socket_client:
        await socket_client.send("hello")
        assert await asyncio.wait_for(socket_client.recv(), timeout=5) == "echo hello"


async def test_what_a_turn_writes_past_the_high_water_mark_goes_to_the_transport_at_once() -> None:
    """So uvicorn's flow control still sees a slow client: the transport can pause the app."""
    import socket

    from neurmatic.api.http_protocol import HIGH_WATER_BYTES, TurnBufferedTransport

    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    buffered = TurnBufferedTransport(transport, loop)
    try:
        chunk = b"y" * (HIGH_WATER_BYTES // 2 + 1)
        for _ in range(6):  # three times the mark, without yielding to the loop
            buffered.write(chunk)
            assert buffered.get_write_buffer_size() - transport.get_write_buffer_size() <= HIGH_WATER_BYTES
        theirs.setblocking(False)
        assert theirs.recv(1024), "nothing was sent before the turn ended"
    finally:
        transport.close()
        theirs.close()
