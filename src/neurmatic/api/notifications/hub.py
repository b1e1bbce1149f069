"""One Redis pub/sub subscription per API worker process (a pattern over every user's channel), fanned
out to the WebSockets this process holds, so a user connected to any worker of ``backend-2`` gets what
any worker of ``backend-1`` raised."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as aioredis
from fastapi import WebSocket

from neurmatic.domain.notifications.service import CHANNEL_PREFIX

log = logging.getLogger("neurmatic.notifications.hub")
STOP_TIMEOUT_SECONDS = 3.0
POLL_SECONDS = 1.0


class NotificationHub:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.sockets: dict[str, set[WebSocket]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

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
        # Polls with a short timeout instead of blocking in listen(): the loop returns to us every second,
        # so a stop is honoured promptly even when a read would not react to cancellation.
        while not self._stopping:  # resubscribe after a Redis failover or outage
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                    if message is not None and message.get("type") == "pmessage":
                        await self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "notification subscription lost; resubscribing", extra={"error": type(exc).__name__}
                )
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), POLL_SECONDS)  # type: ignore[no-untyped-call]

    async def _dispatch(self, raw_channel: bytes | str, data: bytes | str) -> None:
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        await self._deliver(
            channel[len(CHANNEL_PREFIX) :], data.decode() if isinstance(data, bytes) else data
        )

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._listen(), name="notification-hub")

    async def stop(self) -> None:
        """Stop the subscription; never wait on it for long (shutdown must not hang on Redis)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_SECONDS)
