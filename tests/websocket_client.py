"""A blocking WebSocket client for tests that is safe over TLS.

websockets' sync client reads the socket in a thread of its own while the caller's thread writes to it.
Over TLS both threads then use one OpenSSL connection at once, which OpenSSL does not allow: about one
``wss://`` handshake in 25 through nginx never completed (the request never reached nginx, which closed
the connection after its 60 s header timeout). Here websockets' asyncio client, which does everything on
one thread, runs on an event loop of its own; the test calls it through this blocking face.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as connect_async

T = TypeVar("T")


class LiveSocket:
    """One open WebSocket: ``send``, and ``recv`` with a timeout (ConnectionClosed once it is closed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: ClientConnection) -> None:
        self._loop = loop
        self._connection = connection

    def _run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout + 5)

    def send(self, message: str | bytes) -> None:
        self._run(self._connection.send(message), 10)

    def recv(self, timeout: float = 10) -> str | bytes:
        """The next message; TimeoutError when none came in ``timeout``, ConnectionClosed when closed."""
        return self._run(asyncio.wait_for(self._connection.recv(), timeout), timeout)


@contextmanager
def open_socket(
    uri: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 10
) -> Iterator[LiveSocket]:
    """Connect to ``uri`` (opening handshake within ``timeout``) and close the socket on the way out."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="websocket-client", daemon=True)
    thread.start()
    try:
        opening = connect_async(uri, ssl=ssl_context, open_timeout=timeout, close_timeout=3)
        connection = asyncio.run_coroutine_threadsafe(_open(opening), loop).result(timeout + 5)
        try:
            yield LiveSocket(loop, connection)
        finally:
            asyncio.run_coroutine_threadsafe(connection.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _open(opening: Any) -> ClientConnection:
    connection: ClientConnection = await opening
    return connection
