"""Redis clients: through Sentinel when Sentinels are configured, from a plain URL otherwise."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry
from redis.sentinel import Sentinel

from neurmatic.settings import RedisSettings

Command = Callable[..., Awaitable[Any]]  # ``await run("EVALSHA", sha, ...)``: a command and its reply
# ``await batch([("INCR", key), ("GET", other)])``: commands sent together, their replies in a list
Batch = Callable[[Sequence[tuple[Any, ...]]], Awaitable[list[Any]]]


def redis_py_batch(client: aioredis.Redis) -> Batch:
    """``Batch`` through redis-py (a pipeline without MULTI), where the hot path has no pipelined
    connection (``redis_pipe.pipelined_master`` declined the URL)."""

    async def batch(commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        async with client.pipeline(transaction=False) as pipeline:
            for command in commands:
                pipeline.execute_command(*command)
            return await pipeline.execute()

    return batch


def sentinel_addresses(settings: RedisSettings) -> list[tuple[str, int]]:
    """``["127.0.0.1:26379", ...]`` → ``[("127.0.0.1", 26379), ...]``."""
    addresses = []
    for item in settings.sentinels:
        host, _, port = item.rpartition(":")
        addresses.append((host or "127.0.0.1", int(port)))
    return addresses


def _client_kwargs(settings: RedisSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_seconds,
        "socket_connect_timeout": settings.socket_timeout_seconds,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
    if settings.password is not None:
        kwargs["password"] = settings.password.get_secret_value()
    return kwargs


def _sentinel_kwargs(settings: RedisSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_seconds,
        "socket_connect_timeout": settings.socket_timeout_seconds,
    }
    if settings.sentinel_password is not None:
        kwargs["password"] = settings.sentinel_password.get_secret_value()
    return kwargs


def async_sentinel(settings: RedisSettings) -> AsyncSentinel | None:
    """An asyncio Sentinel client, or None when no Sentinels are configured."""
    if not settings.sentinels:
        return None
    return AsyncSentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(settings), sentinel_kwargs=_sentinel_kwargs(settings)
    )


def async_master(settings: RedisSettings, sentinel: AsyncSentinel | None = None) -> aioredis.Redis:
    """The asyncio client for the current master: it follows a Sentinel failover by itself."""
    sentinel = sentinel or async_sentinel(settings)
    if sentinel is not None:
        client: aioredis.Redis = sentinel.master_for(settings.sentinel_master, **_client_kwargs(settings))
        return client
    return aioredis.Redis.from_url(settings.url.get_secret_value(), **_client_kwargs(settings))


def sync_master(settings: RedisSettings) -> redis.Redis:
    """The blocking client for the current master (used by the job worker)."""
    if settings.sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            sentinel_addresses(settings), sentinel_kwargs=_sentinel_kwargs(settings)
        )
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.sentinel_master, **_client_kwargs(settings)
        )
        return master
    return redis.Redis.from_url(settings.url.get_secret_value(), **_client_kwargs(settings))


def direct(host: str, port: int, password: str | None, *, timeout: float = 2.0) -> redis.Redis:
    """A blocking client to one server (a probe, or an operator's command on one node)."""
    return redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        # redis-py retries a refused connection ten times (~3.5 s) by default: a probe or an operator's
        # one command answers now or says why.
        retry=Retry(NoBackoff(), 0),
    )


class LuaScript:
    """A Lua script run by its SHA (``EVALSHA``), loaded again when the server does not know it (after a
    failover, or a restart). redis-py's ``AsyncScript`` does the same, but asks ``isinstance`` of a
    typing Protocol on every call: a tenth of the CPU of a cached read. With ``pipe`` (the hot path's
    pipelined connection, ``redis_pipe``) the script runs there instead of through redis-py."""

    def __init__(self, client: aioredis.Redis, source: str, pipe: Command | None = None) -> None:
        self.run: Command = pipe if pipe is not None else client.execute_command
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.run("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.run("SCRIPT", "LOAD", self.source)  # the SHA is the source's: it stays the same
            return await self.run("EVALSHA", self.sha, len(keys), *keys, *args)


def sentinel_command(client: redis.Redis, *args: str) -> Any:
    """``SENTINEL <args>`` on a Sentinel connection."""
    return client.execute_command("SENTINEL", *args)  # type: ignore[no-untyped-call]


def server_password(settings: RedisSettings) -> str | None:
    """The Redis servers' password: ``REDIS_PASSWORD``, else the one inside ``REDIS_URL``."""
    if settings.password is not None:
        return settings.password.get_secret_value()
    return urlsplit(settings.url.get_secret_value()).password


def discover_servers(settings: RedisSettings) -> list[tuple[str, int]]:
    """Every Redis server, by address: the master and replicas the first answering Sentinel knows (a
    stopped replica included: Sentinel remembers it), else the server ``REDIS_URL`` names."""
    secret = settings.sentinel_password
    for host, port in sentinel_addresses(settings):
        client = direct(host, port, secret.get_secret_value() if secret else None, timeout=2)
        try:
            master = sentinel_command(client, "GET-MASTER-ADDR-BY-NAME", settings.sentinel_master)
            replicas = sentinel_command(client, "REPLICAS", settings.sentinel_master)
        except redis.RedisError:
            continue  # the next Sentinel may answer
        finally:
            client.close()
        found = [(_text(master[0]), int(master[1]))] if master else []
        for entry in replicas:
            fields = dict(zip(entry[::2], entry[1::2], strict=False)) if isinstance(entry, list) else entry
            found.append((_text(fields["ip"]), int(fields["port"])))
        return sorted(set(found))
    parts = urlsplit(settings.url.get_secret_value())
    return [(parts.hostname or "127.0.0.1", parts.port or 6379)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
