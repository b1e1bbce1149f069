"""One pipelined connection to the Redis master for the hot path's commands (the article cache's and the
rate limit's scripts, a view counted).

Why not redis-py there: a round trip through redis-py's asyncio client costs 3 to 5 times the CPU of the
same bytes over a bare socket (a pool checkout and release, ``asyncio.wait_for`` around each read, the
command packed in Python, retry and observability wrappers): on a cached read it was half the CPU of the
whole request. Here every request of the process shares one connection: a command is packed by hiredis
and written at once, and Redis, which answers a connection's commands in order, resolves the waiting
futures in that order (RESP pipelining), so concurrent requests share reads and writes of the socket.

What redis-py still does for us: finding the master through Sentinel (on connect only), every other
command, and the blocking clients. The guarantees stay: a command that gets no answer within the
socket timeout fails (the connection is dropped, and every command waiting on it fails with it: their
answers can no longer be matched); a master that became a replica (``READONLY``) is left for the one
Sentinel names next; errors are redis-py's exception classes, so callers' ``except RedisError`` hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import hiredis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.exceptions import (
    ConnectionError,
    InvalidResponse,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeout,
)

from neurmatic.settings import RedisSettings

Locate = Callable[[], Awaitable[tuple[str, int]]]
RECONNECT_PAUSE_SECONDS = 0.2  # after a failed connect, how long the next requests fail without trying


def _pack(command: tuple[str | bytes | int | float, ...]) -> bytes:
    """A command in RESP, packed in C. (hiredis's stub types the tuple as having one element.)"""
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed


class _Batch:
    """Commands sent together and answered together: one future for all their replies."""

    __slots__ = ("future", "replies", "size")

    def __init__(self, future: asyncio.Future[Any], size: int) -> None:
        self.future = future
        self.size = size
        self.replies: list[Any] = []


class _Resp(asyncio.Protocol):
    """The socket's side: replies parsed by hiredis, handed to the oldest waiting command."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
        self.waiting: deque[asyncio.Future[Any] | _Batch] = deque()
        self.transport: asyncio.Transport | None = None
        self.head_since = 0.0  # when the oldest waiting command was sent, or its predecessor answered
        self.failure: Exception | None = None
        self.unsent: list[bytes] = []  # written together once the loop has run every ready request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        try:
            while (reply := self.reader.gets()) is not False:
                head = waiting[0]
                if type(head) is _Batch:
                    head.replies.append(reply)
                    if len(head.replies) < head.size:
                        continue
                    future, reply = head.future, head.replies
                else:
                    future = cast(asyncio.Future[Any], head)
                waiting.popleft()
                if not future.done():  # a cancelled request's answer is read and dropped
                    future.set_result(reply)
        except (InvalidResponse, IndexError) as exc:  # garbage, or an answer nobody asked for
            self.fail(ConnectionError(f"Redis sent what cannot be matched to a command: {exc}"))
            return
        if waiting:
            self.head_since = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"Redis closed the connection ({exc or 'end of stream'})"))

    def fail(self, error: Exception) -> None:
        """Fail every waiting command and close: after a lost or garbled answer, order is lost too."""
        if self.failure is None:
            self.failure = error
        while self.waiting:
            head = self.waiting.popleft()
            future = head.future if isinstance(head, _Batch) else head
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    def send(self, packed: bytes, batch_of: int | None = None) -> asyncio.Future[Any]:
        """Queue ``packed``: one command, whose reply is the future's result, or ``batch_of`` commands
        (at least one), whose replies in a list are."""
        if self.failure is not None:
            raise self.failure
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.waiting:
            self.head_since = loop.time()
        self.waiting.append(future if batch_of is None else _Batch(future, batch_of))
        if not self.unsent:  # one write per turn of the loop, however many requests sent a command
            loop.call_soon(self.flush)
        self.unsent.append(packed)
        return future

    def flush(self) -> None:
        if self.transport is not None and self.failure is None:
            self.transport.writelines(self.unsent)
        self.unsent = []


class PipelinedRedis:
    """``await pipe("EVALSHA", sha, 1, key, ...)``: one command on the shared connection, its reply as
    hiredis parses it (bytes, ints, lists, None), a Redis error raised as redis-py's exception."""

    def __init__(
        self,
        locate: Locate,
        *,
        password: str | None,
        db: int,
        timeout: float,
        username: str | None = None,
        name: str = "master",
    ) -> None:
        self.locate = locate
        self.username = username
        self.password = password
        self.db = db
        self.timeout = timeout
        self.name = name
        self._resp: _Resp | None = None
        self._connecting: asyncio.Lock | None = None
        self._last_failure: tuple[float, RedisError | None] = (0.0, None)
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False

    async def __call__(self, *args: str | bytes | int | float) -> Any:
        if not args:  # Redis answers nothing to an empty command: every later reply would shift
            raise ValueError("a Redis command needs at least its name")
        resp = await self._connection()
        reply = await resp.send(_pack(args))
        if isinstance(reply, ResponseError):
            raise self._error(resp, reply)
        return reply

    async def batch(self, commands: Sequence[tuple[str | bytes | int | float, ...]]) -> list[Any]:
        """Several commands in one write, their replies in one list (not a transaction: other clients'
        commands may run between them). The first error reply is raised."""
        if not commands:
            return []
        if not all(commands):
            raise ValueError("a Redis command needs at least its name")
        resp = await self._connection()
        replies: list[Any] = await resp.send(b"".join(map(_pack, commands)), batch_of=len(commands))
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise self._error(resp, reply)
        return replies

    def _error(self, resp: _Resp, reply: ResponseError) -> ResponseError:
        message = str(reply)
        if message.startswith("NOSCRIPT"):
            return NoScriptError(message)
        if message.startswith("READONLY"):  # a failover made our master a replica: ask Sentinel again
            resp.fail(ConnectionError("the Redis master became a replica"))
            return ReadOnlyError(message)
        return reply

    async def _connection(self) -> _Resp:
        resp = self._resp
        if resp is not None and resp.failure is None:
            return resp
        if self._closed:
            raise ConnectionError(f"the connection to the Redis {self.name} is closed")
        return await self._connect()

    async def _connect(self) -> _Resp:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # concurrent first requests open one connection, not one each
            if self._resp is not None and self._resp.failure is None:
                return self._resp
            loop = asyncio.get_running_loop()
            failed_at, error = self._last_failure
            # Right after a failed attempt, the requests queued behind it fail with its error instead of
            # each trying in turn (one after the other, each up to the timeout, while Redis is away).
            if error is not None and loop.time() - failed_at < RECONNECT_PAUSE_SECONDS:
                raise ConnectionError(str(error))
            try:
                resp = await self._open_within_timeout()
            except RedisError as exc:
                self._last_failure = (loop.time(), exc)
                raise
            self._last_failure = (0.0, None)
            if self._closed:  # closed while this connect was on its way
                resp.fail(ConnectionError("closed"))
                raise ConnectionError(f"the connection to the Redis {self.name} is closed")
            self._resp = resp
            self._arm_watchdog()
            return resp

    async def _open_within_timeout(self) -> _Resp:
        """Find the master (``locate`` bounds its own time: several Sentinels may be asked), then
        connect and sign in within the timeout."""
        host, port = await self.locate()
        try:
            return await asyncio.wait_for(self._open(host, port), self.timeout)
        except TimeoutError as exc:
            reason = f"no answer within {self.timeout} s"
            raise ConnectionError(
                f"cannot connect to the Redis {self.name} at {host}:{port}: {reason}"
            ) from exc
        except OSError as exc:
            raise ConnectionError(f"cannot connect to the Redis {self.name} at {host}:{port}: {exc}") from exc

    async def _open(self, host: str, port: int) -> _Resp:
        loop = asyncio.get_running_loop()
        _, resp = await loop.create_connection(_Resp, host, port)
        try:
            await self._handshake(resp, f"{host}:{port}")
        except BaseException as exc:  # refused, or the connect timed out: nothing stays open
            resp.fail(exc if isinstance(exc, Exception) else ConnectionError("connect cancelled"))
            raise
        return resp

    async def _handshake(self, resp: _Resp, address: str) -> None:
        """Sign in, select the database, and check that the server is still the master."""
        handshake: list[tuple[str | int, ...]] = []
        if self.password is not None:
            credentials = (self.username, self.password) if self.username else (self.password,)
            handshake.append(("AUTH", *credentials))
        if self.db:
            handshake.append(("SELECT", self.db))
        handshake.append(("ROLE",))
        replies = await asyncio.gather(*(resp.send(_pack(c)) for c in handshake))
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise ConnectionError(f"the Redis {self.name} at {address} refused the connection: {reply}")
        if replies[-1][0] != b"master":  # ROLE: a Sentinel that has not caught up with a failover
            raise ConnectionError(f"{address} is not the Redis master (yet); retry")

    def _arm_watchdog(self) -> None:
        """Every half timeout, fail the connection if its oldest command has waited longer than the
        timeout (one timer per connection, not one per command: ``wait_for`` on each read was a tenth of
        redis-py's cost)."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            resp = self._resp
            if resp is None or resp.failure is not None:
                self._watchdog = None
                return
            if resp.waiting and loop.time() - resp.head_since > self.timeout:
                resp.fail(RedisTimeout(f"the Redis {self.name} did not answer within {self.timeout} s"))
                self._watchdog = None
                return
            self._watchdog = loop.call_later(self.timeout / 2, check)

        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = loop.call_later(self.timeout / 2, check)

    def close(self) -> None:
        """Close for good: later commands raise ConnectionError instead of connecting again."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._resp is not None:
            self._resp.fail(ConnectionError("closed"))
            self._resp = None


def pipelined_master(settings: RedisSettings, sentinel: Sentinel | None) -> PipelinedRedis | None:
    """The hot path's connection to the master: through Sentinel when it is configured, else to the
    ``redis://`` URL's server. None for what it does not speak (TLS, a Unix socket): redis-py serves."""
    password = settings.password.get_secret_value() if settings.password is not None else None
    timeout = settings.socket_timeout_seconds
    if sentinel is not None:
        master_name = settings.sentinel_master

        async def from_sentinel() -> tuple[str, int]:
            return await ask_sentinels(sentinel, master_name, timeout)

        return PipelinedRedis(from_sentinel, password=password, db=0, timeout=timeout)
    url = settings.url.get_secret_value()
    if urlsplit(url).scheme != "redis":
        return None
    # Read as redis-py reads it (``Redis.from_url``), so both clients reach the same server and
    # database as the same user: the URL's own credentials win over REDIS_PASSWORD, ``?db=`` counts.
    options = parse_url(url)
    address = (str(options.get("host", "localhost")), int(options.get("port", 6379)))

    async def fixed() -> tuple[str, int]:
        return address

    return PipelinedRedis(
        fixed,
        password=options.get("password", password),
        username=options.get("username"),
        db=int(options.get("db", 0)),
        timeout=timeout,
    )


async def ask_sentinels(sentinel: Sentinel, master_name: str, timeout: float) -> tuple[str, int]:
    """The master's address, from the first Sentinel to answer: all are asked at once, so one that
    hangs (a frozen process, a stalled host) costs nothing while another answers. (redis-py's
    ``discover_master`` asks them in turn, each with its timeout and retries: behind a hung first
    Sentinel the hot path's reconnects took the whole budget, and it never got to the second one.)"""

    async def ask(client: Any) -> tuple[str, int]:
        reply = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name)
        if not reply:
            raise MasterNotFoundError(f"a Sentinel does not know the master {master_name!r}")
        host, port = reply
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    asked = [asyncio.ensure_future(ask(client)) for client in sentinel.sentinels]
    try:
        for answer in asyncio.as_completed(asked, timeout=timeout):
            with contextlib.suppress(RedisError, OSError, ValueError):
                return await answer
    except TimeoutError:
        pass
    finally:
        for question in asked:
            question.cancel()
    raise MasterNotFoundError(f"no Sentinel named the master {master_name!r} within {timeout} s")
