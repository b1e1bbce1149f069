"""uvicorn's httptools protocol, with the writes of one turn of the event loop sent together.

uvicorn writes a response's head and its body separately, each a ``send`` system call: on the cached
article list (about 0.08 ms of CPU per request) the two calls were a sixth of the process's time. Here
the connection's transport keeps what is written until the loop has run every ready callback, then
sends it in one call (the head and the body of one response; and, under load, of several).

Nothing waits longer than the current turn of the loop; a close sends what is kept first; an abort
drops it, as the transport's own abort drops its buffer. A WebSocket upgrade hands the WebSocket the
connection's own transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HIGH_WATER_BYTES = HIGH_WATER_LIMIT  # what uvicorn lets a transport buffer before it pauses the app


class TurnBufferedTransport:
    """A transport whose writes of one loop turn go out in one ``writelines``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.raw = transport
        self._loop = loop
        self._kept: list[bytes] = []
        self._kept_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._kept:
            self._loop.call_soon(self.send_kept)
        self._kept.append(data if isinstance(data, bytes) else bytes(data))
        self._kept_bytes += len(data)
        # A response streamed without yielding to the loop would otherwise be kept whole: past
        # uvicorn's high-water mark it goes to the transport now, which can then ask uvicorn to pause.
        if self._kept_bytes > HIGH_WATER_BYTES:
            self.send_kept()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def send_kept(self) -> None:
        kept, self._kept, self._kept_bytes = self._kept, [], 0
        if kept and not self.raw.is_closing():
            self.raw.writelines(kept)

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + self._kept_bytes

    def close(self) -> None:
        self.send_kept()
        self.raw.close()

    def write_eof(self) -> None:
        self.send_kept()
        self.raw.write_eof()

    def abort(self) -> None:
        self._kept, self._kept_bytes = [], 0
        self.raw.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self.raw, name)


class HttpToolsTurnBuffered(HttpToolsProtocol):
    """``--http`` for ``neurmatic api``: uvicorn's httptools protocol on a ``TurnBufferedTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        buffered: Any = TurnBufferedTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(buffered)

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket gets the connection's own transport (what was kept is sent first)."""
        if isinstance(self.transport, TurnBufferedTransport):
            self.transport.send_kept()
            self.transport = self.transport.raw
        super().handle_websocket_upgrade()
