"""One Redis pub/sub subscription per API instance (a pattern over every user's channel), fanned out to
the WebSockets this instance holds, so a user connected to ``backend-2`` gets what ``backend-1`` raised."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import redis.asyncio as aioredis
from fastapi import WebSocket

from neurmatic.api.notifications.service import CHANNEL_PREFIX

log = logging.getLogger("neurmatic.notifications.hub")
STOP_TIMEOUT_SECONDS = 2.0


class NotificationHub:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.sockets: dict[str, set[WebSocket]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def add(self, user_id: str, socket: WebSocket) -> None:
        self.sockets[user_id].add(socket)

    def remove(self, user_id: str, socket: WebSocket) -> None:
        self.sockets[user_id].discard(socket)
        if not self.sockets[user_id]:
            del self.sockets[user_id]

    async def _deliver(self, user_id: str, text: str) -> None:
        for socket in list(self.sockets.get(user_id, ())):
            try:
                await socket.send_text(text)
            except Exception:  # the socket closed under us; its handler removes it
                self.remove(user_id, socket)

    async def _listen(self) -> None:
        while True:  # resubscribe after a Redis failover or outage
            try:
                pubsub = self.redis.pubsub()
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    raw_channel, data = message["channel"], message["data"]
                    user_id = (raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel)[
                        len(CHANNEL_PREFIX) :
                    ]
                    await self._deliver(user_id, data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "notification subscription lost; resubscribing", extra={"error": type(exc).__name__}
                )
                await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="notification-hub")

    async def stop(self) -> None:
        """Cancel the subscription; never wait on it for long (a pub/sub read that ignores cancellation
        must not hold up the shutdown of the whole instance)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_SECONDS)
