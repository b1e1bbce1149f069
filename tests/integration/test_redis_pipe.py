"""The hot path's pipelined Redis connection (``redis_pipe``) against real redis-server processes: replies
matched to their commands (concurrent and cancelled callers included), scripts reloaded, the sign-in, and
the failures it must turn into redis-py's exceptions (a server gone, frozen, or no longer the master).

Every server is started by the test on a free loopback port, in the test's own directory, and killed at
its end. redis-server runs as the current user (as in test_redis_failover): a stopped or killed server is
the process the test signals, not a wrapper around it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeout,
)

from neurmatic.adapters.redis import LuaScript, async_sentinel
from neurmatic.adapters.redis_pipe import RECONNECT_PAUSE_SECONDS, PipelinedRedis, pipelined_master
from neurmatic.settings import RedisSettings, Settings
from tests.support import port_is_free, require_binary, wait_for_port

HOST = "127.0.0.1"
MASTER_NAME = "mymaster"
_handed_out: set[int] = set()


def _free_port() -> int:
    """A free loopback port below 10000: out of the ranges the topologies of a test run take their ports
    from (10000 up, see ``free_base_port``) and of the kernel's ephemeral range, so a server restarted
    on it finds it free (no client's local port can have taken it meanwhile)."""
    for _ in range(500):
        port = random.randrange(2000, 10000)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


class _Server:
    """One redis-server (or Sentinel) process on ``port``: started, frozen, thawed, killed, started again."""

    def __init__(self, binary: str, directory: Path, port: int, argv: list[str]) -> None:
        self.binary, self.directory, self.port, self.argv = binary, directory, port, argv
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.directory / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.binary, *self.argv], cwd=self.directory, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, log)

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # a stopped process dies of SIGKILL too
            self.process.wait(timeout=10)

    def client(self, password: str | None = None, db: int = 0) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, password=password, db=db, socket_timeout=5)


class _Servers:
    """Starts servers on demand for one test; all killed at its end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.binary = require_binary("redis-server")  # Sentinel is redis-server in Sentinel mode
        self.started: list[_Server] = []

    def redis(self, *options: str) -> _Server:
        port = _free_port()
        directory = self.root / f"redis-{port}"
        directory.mkdir()
        argv = [
            "--port", str(port), "--bind", HOST, "--dir", str(directory), "--save", "",
            "--appendonly", "no", "--enable-debug-command", "local", *options,
        ]  # fmt: skip
        return self._start(_Server(self.binary, directory, port, argv))

    def sentinel(self, master: _Server, master_password: str, password: str) -> _Server:
        port = _free_port()
        directory = self.root / f"sentinel-{port}"
        directory.mkdir()
        conf = directory / "sentinel.conf"  # Sentinel rewrites its configuration file: one of its own
        conf.write_text(
            f"bind {HOST}\nport {port}\ndir {directory}\nrequirepass {password}\n"
            f"sentinel monitor {MASTER_NAME} {HOST} {master.port} 1\n"
            f"sentinel auth-pass {MASTER_NAME} {master_password}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 5000\n"
        )
        return self._start(_Server(self.binary, directory, port, [str(conf), "--sentinel"]))

    def _start(self, server: _Server) -> _Server:
        self.started.append(server)
        server.start()
        return server

    def stop(self) -> None:
        for server in self.started:
            server.kill()


@pytest.fixture()
def servers(tmp_path: Path) -> Iterator[_Servers]:
    started = _Servers(tmp_path)
    try:
        yield started
    finally:
        started.stop()


PipeFactory = Callable[..., PipelinedRedis]


@pytest.fixture()
async def pipes() -> AsyncIterator[PipeFactory]:
    """``pipes(port, password=..., timeout=...)``: a pipe to 127.0.0.1:port, closed at the test's end."""
    made: list[PipelinedRedis] = []

    def make(
        port: int, *, password: str | None = None, timeout: float = 5.0, **kwargs: Any
    ) -> PipelinedRedis:
        async def locate() -> tuple[str, int]:
            return HOST, port

        pipe = PipelinedRedis(locate, password=password, db=0, timeout=timeout, **kwargs)
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        pipe.close()


def _redis_settings(values: dict[str, str]) -> RedisSettings:
    return Settings.from_mapping(values).redis  # these values only, whatever this process's environment


def _through_sentinels(
    sentinels: list[_Server], password: str, sentinel_password: str, *, url: str, timeout: str
) -> RedisSettings:
    """Settings that reach the master through ``sentinels`` (REDIS_URL names nothing that answers)."""
    return _redis_settings(
        {
            "REDIS_URL": url,
            "REDIS_PASSWORD": password,
            "REDIS_SENTINELS": ",".join(f"{HOST}:{server.port}" for server in sentinels),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_SENTINEL_PASSWORD": sentinel_password,
            "REDIS_SOCKET_TIMEOUT": timeout,
        }
    )


# 1. Commands and replies ---------------------------------------------------------------------------------


async def test_replies_come_back_as_hiredis_parses_them_and_an_error_leaves_the_connection_usable(
    servers: _Servers, pipes: PipeFactory
) -> None:
    pipe = pipes(servers.redis().port)
    value = b"\x00\xff not utf-8 \xfe"
    assert await pipe("SET", "greeting", value) == b"OK"
    assert await pipe("GET", "greeting") == value
    assert await pipe("INCR", "counter") == 1
    assert await pipe("INCRBY", "counter", 41) == 42
    assert await pipe("INCRBYFLOAT", "ratio", 1.5) == b"1.5"
    assert await pipe("GET", "missing") is None
    assert await pipe("RPUSH", "list", "a", b"b", 3) == 3
    assert await pipe("LRANGE", "list", 0, -1) == [b"a", b"b", b"3"]
    assert await pipe("LRANGE", "missing", 0, -1) == []

    with pytest.raises(ResponseError, match="not an integer") as caught:
        await pipe("INCR", "greeting")
    assert type(caught.value) is ResponseError  # neither NOSCRIPT nor READONLY
    with pytest.raises(ResponseError, match="unknown command"):
        await pipe("NO-SUCH-COMMAND", "x")

    # The errors took their own answers only: the next commands get theirs, on the same connection.
    assert await pipe("GET", "greeting") == value
    assert await pipe("INCR", "counter") == 43


# 2. Ordering under concurrency ---------------------------------------------------------------------------


async def test_five_hundred_concurrent_commands_share_one_connection_and_each_gets_its_own_reply(
    servers: _Servers, pipes: PipeFactory
) -> None:
    server = servers.redis()
    pipe = pipes(server.port)
    values = [os.urandom(6) + str(i).encode() for i in range(500)]
    # From no connection at all: the concurrent first callers open one connection between them.
    assert await asyncio.gather(*(pipe("SET", f"key:{i}", v) for i, v in enumerate(values))) == [b"OK"] * 500

    gets = [pipe("GET", f"key:{i}") for i in range(500)]
    increments = [pipe("INCRBY", f"count:{i}", i) for i in range(500)]
    lengths = [pipe("STRLEN", f"key:{i}") for i in range(500)]
    replies = await asyncio.gather(*(c for trio in zip(gets, increments, lengths, strict=True) for c in trio))
    assert replies[0::3] == values
    assert replies[1::3] == list(range(500))
    assert replies[2::3] == [len(v) for v in values]

    # Replies larger than one read of the socket, among small ones: parsed across reads, still in order.
    big = {f"big:{i}": os.urandom(1_000_000 + i) for i in range(3)}
    assert await pipe("MSET", *(part for item in big.items() for part in item)) == b"OK"
    mixed = await asyncio.gather(*(c for key in big for c in (pipe("GET", key), pipe("GET", "key:7"))))
    assert mixed[0::2] == list(big.values())
    assert mixed[1::2] == [values[7]] * 3

    with server.client() as observer:
        own = observer.client_id()
        others = [c for c in observer.client_list() if int(c["id"]) != own]
    assert len(others) == 1, f"expected the pipe's one connection, found {[c['addr'] for c in others]}"


# 3. Cancelled callers ------------------------------------------------------------------------------------


async def test_cancelled_callers_do_not_shift_the_replies_of_the_others(
    servers: _Servers, pipes: PipeFactory
) -> None:
    port = servers.redis().port
    pipe = pipes(port)
    values = {f"key:{i}": f"value-{i}".encode() for i in range(300)}
    assert await pipe("MSET", *(part for item in values.items() for part in item)) == b"OK"

    # The server asleep: the GETs below are written to the socket and unanswered when their callers go.
    sleeper = asyncio.create_task(pipe("DEBUG", "SLEEP", "0.3"))
    tasks = {key: asyncio.create_task(pipe("GET", key)) for key in values}
    await asyncio.sleep(0.1)
    assert not sleeper.done() and not any(task.done() for task in tasks.values())
    cancelled = set(list(values)[::3])
    sleeper.cancel()  # the oldest waiting command among them
    for key in cancelled:
        tasks[key].cancel()

    outcomes = dict(zip(tasks, await asyncio.gather(*tasks.values(), return_exceptions=True), strict=True))
    for key, outcome in outcomes.items():
        if key in cancelled:
            assert isinstance(outcome, asyncio.CancelledError), (key, outcome)
        else:
            assert outcome == values[key], (key, outcome)
    assert sleeper.cancelled()

    # A caller timed out by asyncio.wait_for (cancelled the same way), then the connection carries on.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pipe("DEBUG", "SLEEP", "0.2"), 0.05)
    later = await asyncio.gather(*(pipe("GET", key) for key in values), pipe("INCR", "after"))
    assert later == [*values.values(), 1]

    # The first caller of a new pipe, cancelled while it opens the connection: the others open it anew.
    fresh = pipes(port)
    callers = [asyncio.create_task(fresh("GET", key)) for key in list(values)[:20]]
    await asyncio.sleep(0)  # the first caller holds the connect lock, opening the connection
    callers[0].cancel()
    first_outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(first_outcomes[0], asyncio.CancelledError)
    assert first_outcomes[1:] == list(values.values())[1:20]


# 4. Lua scripts ------------------------------------------------------------------------------------------


async def test_a_lua_script_through_the_pipe_is_loaded_again_after_script_flush(
    servers: _Servers, pipes: PipeFactory
) -> None:
    server = servers.redis()
    pipe = pipes(server.port)
    client = aioredis.Redis(host=HOST, port=server.port)
    try:
        script = LuaScript(client, "return redis.call('INCRBY', KEYS[1], ARGV[1])", pipe)
        with pytest.raises(NoScriptError):  # what LuaScript catches: the pipe raises redis-py's class
            await pipe("EVALSHA", script.sha, 1, "hits", 1)
        assert await script(["hits"], [2]) == 2  # first run: the server did not know it
        assert await script(["hits"], [3]) == 5
        await client.script_flush()  # a restart or failover forgets the scripts
        assert await client.script_exists(script.sha) == [False]
        assert await script(["hits"], [10]) == 15
        assert await client.script_exists(script.sha) == [True]
        assert await pipe("GET", "hits") == b"15"
    finally:
        await client.aclose()


# 5. Sign-in ----------------------------------------------------------------------------------------------


async def test_the_password_signs_in_and_a_wrong_or_missing_one_is_a_clear_connection_error(
    servers: _Servers, pipes: PipeFactory
) -> None:
    password = "right-Password-1"
    server = servers.redis("--requirepass", password)
    good = pipes(server.port, password=password)
    assert await good("SET", "k", "v") == b"OK"
    assert await good("ACL", "WHOAMI") == b"default"

    with pytest.raises(RedisConnectionError, match="refused the connection: WRONGPASS") as wrong:
        await pipes(server.port, password="wrong-password")("GET", "k")
    assert f"{HOST}:{server.port}" in str(wrong.value) and "wrong-password" not in str(wrong.value)
    with pytest.raises(RedisConnectionError, match="refused the connection: NOAUTH"):
        await pipes(server.port)("GET", "k")

    with server.client(password) as admin:  # an ACL user: AUTH with a username
        admin.acl_setuser("app", enabled=True, passwords=["+app-Password-2"], keys=["*"], commands=["+@all"])
    user = pipes(server.port, password="app-Password-2", username="app")
    assert await user("ACL", "WHOAMI") == b"app"
    assert await user("GET", "k") == b"v"
    assert await good("GET", "k") == b"v"  # the first pipe still works beside the refused ones


# 6. A server that dies -----------------------------------------------------------------------------------


async def test_a_dead_server_fails_waiting_and_new_commands_and_a_restarted_one_is_reached_again(
    servers: _Servers, pipes: PipeFactory
) -> None:
    server = servers.redis()
    pipe = pipes(server.port, timeout=5)
    assert await pipe("SET", "k", "before") == b"OK"
    waiting = asyncio.create_task(pipe("BLPOP", "nothing", 4))  # answered in 4 s, or never
    await asyncio.sleep(0.1)
    started = time.monotonic()
    server.kill()
    with pytest.raises(RedisConnectionError) as lost:
        await asyncio.wait_for(waiting, 3)  # a lost connection unnoticed fails here, not hangs
    assert time.monotonic() - started < 1, "the waiting command was failed by the timeout, not the loss"
    assert isinstance(lost.value, RedisError)

    with pytest.raises(RedisConnectionError, match="cannot connect to the Redis master"):
        await pipe("GET", "k")  # nothing listens: refused at once
    with pytest.raises(RedisConnectionError, match="cannot connect to the Redis master"):
        await pipe("GET", "k")  # at once again: the last attempt's error, without a new attempt
    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
    with pytest.raises(RedisConnectionError):
        await pipe("GET", "k")  # after the pause, a call tries anew

    server.start()  # on the same port, empty (no persistence)
    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
    assert await pipe("GET", "k") is None
    assert await pipe("SET", "k", "after") == b"OK"
    with server.client() as observer:
        assert observer.get("k") == b"after"


# 7. A server that stops answering ------------------------------------------------------------------------


async def test_a_server_that_stops_answering_fails_the_waiting_commands_with_a_timeout(
    servers: _Servers, pipes: PipeFactory
) -> None:
    timeout = 0.5
    server = servers.redis()
    pipe = pipes(server.port, timeout=timeout)
    assert await pipe("SET", "k", "v") == b"OK"
    server.freeze()  # SIGSTOP: the connection stays open, nothing answers
    try:
        started = time.monotonic()
        waiting = asyncio.gather(pipe("GET", "k"), pipe("INCR", "n"), pipe("PING"), return_exceptions=True)
        outcomes = await asyncio.wait_for(waiting, 5 * timeout)  # a missing watchdog fails, not hangs
        elapsed = time.monotonic() - started
        assert all(isinstance(o, RedisTimeout) for o in outcomes), outcomes
        assert f"did not answer within {timeout} s" in str(outcomes[0])
        assert timeout <= elapsed < 2 * timeout, elapsed

        started = time.monotonic()
        # Twenty requests at once, while the kernel accepts and the server never answers: one attempt,
        # whose error the others share, not twenty attempts one after the other (10 s).
        attempts = await asyncio.gather(*(pipe("GET", "k") for _ in range(20)), return_exceptions=True)
        assert time.monotonic() - started < 2 * timeout
        assert all(isinstance(a, RedisConnectionError) for a in attempts), attempts
        assert "no answer within" in str(attempts[0]) and "no answer within" in str(attempts[-1])
    finally:
        server.thaw()
    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
    assert await pipe("GET", "k") == b"v"
    # The timed-out INCR was delivered: the server may still run it when it wakes (at most once).
    assert await pipe("INCR", "n") in (1, 2)


# 8. Replicas ---------------------------------------------------------------------------------------------


async def test_a_replica_is_refused_at_connect(servers: _Servers, pipes: PipeFactory) -> None:
    master = servers.redis()
    replica = servers.redis("--replicaof", HOST, str(master.port))
    with pytest.raises(RedisConnectionError, match=f"{HOST}:{replica.port} is not the Redis master"):
        await pipes(replica.port)("GET", "k")
    assert await pipes(master.port)("SET", "k", "v") == b"OK"


async def test_a_master_turned_replica_fails_the_write_with_readonly_and_the_next_call_finds_the_new_one(
    servers: _Servers,
) -> None:
    old, new = servers.redis(), servers.redis()
    master = [old.port]  # what Sentinel would answer

    async def locate() -> tuple[str, int]:
        return HOST, master[0]

    pipe = PipelinedRedis(locate, password=None, db=0, timeout=2)
    try:
        assert await pipe("SET", "k", "on-old") == b"OK"
        assert await pipe("GET", "k") == b"on-old"
        with old.client() as client:
            client.replicaof(HOST, new.port)  # the pipe stays connected to it
        master[0] = new.port
        with pytest.raises(ReadOnlyError):
            await pipe("SET", "k", "lost")
        assert await pipe("SET", "k", "on-new") == b"OK"  # located again, on the new master
        with new.client() as client:
            assert client.get("k") == b"on-new"
            assert client.info("replication")["role"] == "master"
    finally:
        pipe.close()


async def test_a_write_script_on_a_master_turned_replica_raises_readonly_and_the_pipe_moves_on(
    servers: _Servers,
) -> None:
    """The hot path writes through scripts (the rate limit's): a script's READONLY must drop the
    connection too, or every request would go on hitting the replica."""
    old, new = servers.redis(), servers.redis()
    master = [old.port]

    async def locate() -> tuple[str, int]:
        return HOST, master[0]

    pipe = PipelinedRedis(locate, password=None, db=0, timeout=2)
    client = aioredis.Redis(host=HOST, port=old.port)
    try:
        script = LuaScript(client, "return redis.call('INCR', KEYS[1])", pipe)
        assert await script(["hits"], []) == 1
        with old.client() as sync_client:
            sync_client.replicaof(HOST, new.port)
        master[0] = new.port
        with pytest.raises(ReadOnlyError):
            await script(["hits"], [])
        assert await script(["hits"], []) == 1  # on the new master, which never counted before
    finally:
        pipe.close()
        await client.aclose()


# 9. pipelined_master from a URL --------------------------------------------------------------------------


async def test_pipelined_master_from_a_url_selects_its_database_and_declines_tls_and_unix_sockets(
    servers: _Servers,
) -> None:
    password = "p@ss:w/rd%1"  # percent-encoded in the URL
    server = servers.redis("--requirepass", password)
    settings = _redis_settings({"REDIS_URL": f"redis://:{quote(password, safe='')}@{HOST}:{server.port}/3"})
    pipe = pipelined_master(settings, None)
    assert pipe is not None
    try:
        assert await pipe("SET", "in-three", b"yes") == b"OK"
    finally:
        pipe.close()
    with server.client(password, db=3) as db3, server.client(password, db=0) as db0:
        assert db3.get("in-three") == b"yes"
        assert db0.get("in-three") is None

    # REDIS_PASSWORD signs in when the URL carries none; no path is database 0.
    settings = _redis_settings({"REDIS_URL": f"redis://{HOST}:{server.port}", "REDIS_PASSWORD": password})
    pipe = pipelined_master(settings, None)
    assert pipe is not None
    try:
        assert await pipe("GET", "in-three") is None
        assert await pipe("SET", "in-zero", b"yes") == b"OK"
    finally:
        pipe.close()
    with server.client(password, db=0) as db0:
        assert db0.get("in-zero") == b"yes"

    for url in (f"rediss://:pw@{HOST}:{server.port}/0", "unix:///run/redis/redis.sock?db=0"):
        assert pipelined_master(_redis_settings({"REDIS_URL": url}), None) is None, url


# 10. pipelined_master through Sentinel -------------------------------------------------------------------


async def test_pipelined_master_through_sentinel_reaches_the_master(servers: _Servers) -> None:
    password, sentinel_password = "redis-Password-3", "sentinel-Password-4"
    master = servers.redis("--requirepass", password)
    sentinel_server = servers.sentinel(master, password, sentinel_password)
    unused = _free_port()  # REDIS_URL names nothing: only Sentinel can lead to the master
    settings = _through_sentinels(
        [sentinel_server], password, sentinel_password, url=f"redis://{HOST}:{unused}/5", timeout="2"
    )
    sentinel = async_sentinel(settings)
    assert sentinel is not None
    pipe = pipelined_master(settings, sentinel)
    assert pipe is not None
    try:
        assert await pipe("SET", "via-sentinel", b"yes") == b"OK"
        assert await pipe("GET", "via-sentinel") == b"yes"
    finally:
        pipe.close()
        await sentinel.aclose()
    with master.client(password) as client:  # database 0: the URL's /5 is not Sentinel's business
        assert client.get("via-sentinel") == b"yes"


async def test_a_hung_sentinel_does_not_keep_the_pipe_from_the_master(servers: _Servers) -> None:
    """Every Sentinel is asked at once: the first one frozen (it accepts, never answers), the second
    names the master within the timeout, every time the pipe connects again."""
    password, sentinel_password = "redis-Password-5", "sentinel-Password-6"
    master = servers.redis("--requirepass", password)
    frozen = servers.sentinel(master, password, sentinel_password)
    answering = servers.sentinel(master, password, sentinel_password)
    settings = _through_sentinels(
        [frozen, answering], password, sentinel_password, url=f"redis://{HOST}:{_free_port()}/0", timeout="1"
    )
    sentinel = async_sentinel(settings)
    assert sentinel is not None
    pipe = pipelined_master(settings, sentinel)
    assert pipe is not None
    frozen.freeze()
    try:
        for attempt in range(3):
            started = time.monotonic()
            assert await pipe("SET", "k", attempt) == b"OK"
            assert time.monotonic() - started < 1, "the frozen Sentinel held the connect up"
            pipe._resp.fail(RedisConnectionError("dropped, as a failover's CLIENT KILL does"))  # type: ignore[union-attr]
    finally:
        frozen.thaw()
        pipe.close()
        await sentinel.aclose()


async def test_batches_of_none_or_one_command_and_empty_commands_keep_the_replies_in_order(
    servers: _Servers, pipes: PipeFactory
) -> None:
    server = servers.redis()
    pipe = pipes(server.port)
    assert await pipe.batch([]) == []
    assert await pipe.batch([("INCR", "n")]) == [1]  # a list, as for several
    with pytest.raises(ValueError):
        await pipe()
    with pytest.raises(ValueError):
        await pipe.batch([("SET", "a", "1"), ()])
    assert await pipe.batch([("SET", "a", "1"), ("SET", "b", "2")]) == [b"OK", b"OK"]
    assert await pipe("GET", "a") == b"1" and await pipe("GET", "b") == b"2"


async def test_a_closed_pipe_stays_closed(servers: _Servers, pipes: PipeFactory) -> None:
    server = servers.redis()
    pipe = pipes(server.port)
    assert await pipe("PING") == b"PONG"
    pipe.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await pipe("PING")
    await asyncio.sleep(0.3)  # the server sees the closed connection go
    with server.client() as observer:  # and it did not connect again behind the caller's back
        clients = observer.execute_command("CLIENT", "LIST")
    assert clients.count(b"cmd=") == 1, clients
