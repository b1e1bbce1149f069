"""``./dev bench floors [--state-dir D]``: what the building blocks cost on this machine, so the API's CPU
per request (``./dev bench api``) can be read against them (docs/performance.md).

- uvicorn (httptools, uvloop) answering an 11.6 KB body (the size of a list page) from a bare ASGI
  callable: CPU milliseconds per request under wrk, 64 connections, 5 s;
- one Redis round trip from this process: redis-py's ``PING`` against the same ``PING`` over a bare asyncio
  stream and over the hot path's pipelined connection, CPU microseconds per call over 3,000 sequential
  calls, against the topology's Redis master;
- what a cached list read costs Redis itself (its ``INFO cpu``), as the script it once was and as the
  plain commands sent together it is now: 20,000 reads, 50 at a time, on keys of the bench's own
  (``bench:floors:*``, deleted afterwards).

Bounded in time and calls; only loopback addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import redis.asyncio as aioredis

from bench.api_bench import tree_cpu_seconds
from bench.express_peer import LoopbackServer, master_redis_url
from bench.wrk import require_wrk, run_wrk
from neurmatic.adapters.redis_pipe import pipelined_master
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.settings import RedisSettings
from neurmatic.supervisor.state import TopologyState

CALLS = 3_000
SERVER_READS = 20_000
WRK_SECONDS = 5
BODY_BYTES = 11_650
_APP = f"""
BODY = b"x" * {BODY_BYTES}
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"{BODY_BYTES}")]

async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
        await send({{"type": "http.response.body", "body": BODY}})
"""


class BareUvicorn(LoopbackServer):
    name = "the bare uvicorn app"
    health_path = "/"

    def __init__(self, state: TopologyState, directory: Path) -> None:
        super().__init__(state)
        self.directory = directory

    def command(self) -> tuple[list[str], dict[str, str], Path | None]:
        (self.directory / "bare_app.py").write_text(_APP)
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        return [*argv, "--log-level", "warning", "--no-access-log"], {"PATH": "/usr/bin:/bin"}, self.directory


def uvicorn_floor(state: TopologyState) -> tuple[float, float]:
    """(req/s, CPU ms per request) of the bare app."""
    import tempfile

    require_wrk()
    with tempfile.TemporaryDirectory() as directory, BareUvicorn(state, Path(directory)) as server:
        process = psutil.Process(server.pid)
        before, _ = tree_cpu_seconds(process)
        result = run_wrk(f"{server.base_url}/", seconds=WRK_SECONDS, connections=64)
        after, _ = tree_cpu_seconds(process)
    return result.rps, (after - before) * 1000 / max(result.requests, 1)


async def redis_round_trips(url: str) -> tuple[float, float, float]:
    """(redis-py, bare stream, the hot path's pipelined connection) CPU microseconds per PING, one at
    a time (the pipe's gain under concurrency, one write for many commands, is not in this figure)."""
    client = aioredis.Redis.from_url(url)
    started = time.process_time()
    for _ in range(CALLS):
        await client.ping()
    library = (time.process_time() - started) * 1e6 / CALLS
    await client.aclose()
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    if parts.password:
        writer.write(f"*2\r\n$4\r\nAUTH\r\n${len(parts.password)}\r\n{parts.password}\r\n".encode())
        await reader.readline()
    started = time.process_time()
    for _ in range(CALLS):
        writer.write(b"*1\r\n$4\r\nPING\r\n")
        await reader.readline()
    bare = (time.process_time() - started) * 1e6 / CALLS
    writer.close()
    pipe = pipelined_master(RedisSettings(REDIS_URL=url), None)
    assert pipe is not None
    await pipe("PING")
    started = time.process_time()
    for _ in range(CALLS):
        await pipe("PING")
    pipelined = (time.process_time() - started) * 1e6 / CALLS
    pipe.close()
    return library, bare, pipelined


async def redis_server_cost(url: str) -> tuple[float, float]:
    """(script, plain commands) microseconds of the Redis server's CPU per cached list read."""
    from neurmatic.adapters.redis import LuaScript
    from neurmatic.api.articles.cache import _HIT_AND_READ

    pipe = pipelined_master(RedisSettings(REDIS_URL=url), None)
    assert pipe is not None
    entry = "bench:floors:entry:0:list"
    await pipe("SET", entry, b"x" * BODY_BYTES)
    script = LuaScript(aioredis.Redis.from_url(url), _HIT_AND_READ, pipe)
    versions = ("bench:floors:version", "bench:floors:position", "bench:floors:views")

    async def as_script(worker: int) -> None:
        await script(
            keys=[f"bench:floors:rl:{worker}", *versions], args=[60_000, 10**9, entry[:-6], "list", ""]
        )

    async def as_commands(worker: int) -> None:
        key = f"bench:floors:rl:{worker}"
        await pipe.batch(
            [
                ("INCR", key),
                ("PEXPIRE", key, 60_000, "NX"),
                ("PTTL", key),
                ("MGET", *versions),
                ("GET", entry),
            ]
        )

    async def server_cpu() -> float:
        info = (await pipe("INFO", "cpu")).decode()
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])

    async def cost(read: Any) -> float:
        async def worker(number: int) -> None:
            for _ in range(SERVER_READS // 50):
                await read(number)

        before = await server_cpu()
        await asyncio.gather(*(worker(number) for number in range(50)))
        return (await server_cpu() - before) * 1e6 / SERVER_READS

    try:
        return await cost(as_script), await cost(as_commands)
    finally:
        await pipe("DEL", entry, *(f"bench:floors:rl:{number}" for number in range(50)))
        pipe.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench floors", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    rps, cpu_ms = uvicorn_floor(state)
    print(f"bare uvicorn, {BODY_BYTES} B body: {rps:,.0f} req/s, {cpu_ms:.3f} CPU ms/request")
    library, bare, pipelined = asyncio.run(redis_round_trips(master_redis_url(state)))
    print(
        f"Redis PING: redis-py {library:.0f} CPU us/call, bare asyncio stream {bare:.0f} CPU us/call,"
        f" the pipelined connection (adapters/redis_pipe) {pipelined:.0f} CPU us/call"
    )
    script, commands = asyncio.run(redis_server_cost(master_redis_url(state)))
    print(
        f"Redis server CPU per cached list read: as a script {script:.1f} us,"
        f" as plain commands {commands:.1f} us"
    )
