"""``./dev bench floors [--state-dir D]``: what the building blocks cost on this machine, so the API's CPU
per request (``./dev bench api``) can be read against them (docs/performance.md).

- uvicorn (httptools, uvloop) answering an 11.6 KB body (the size of a list page) from a bare ASGI
  callable: CPU milliseconds per request under wrk, 64 connections, 5 s;
- one Redis round trip from this process: redis-py's ``PING`` against the same ``PING`` over a bare asyncio
  stream, CPU microseconds per call over 3,000 sequential calls, against the topology's Redis master.

Bounded in time and calls; only loopback addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import redis.asyncio as aioredis

from bench.api_bench import tree_cpu_seconds
from bench.express_peer import LoopbackServer, master_redis_url
from bench.wrk import require_wrk, run_wrk
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.supervisor.state import TopologyState

CALLS = 3_000
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


async def redis_round_trips(url: str) -> tuple[float, float]:
    """(redis-py, bare stream) CPU microseconds per PING."""
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
    return library, bare


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench floors", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    rps, cpu_ms = uvicorn_floor(state)
    print(f"bare uvicorn, {BODY_BYTES} B body: {rps:,.0f} req/s, {cpu_ms:.3f} CPU ms/request")
    library, bare = asyncio.run(redis_round_trips(master_redis_url(state)))
    print(f"Redis PING: redis-py {library:.0f} CPU us/call, bare asyncio stream {bare:.0f} CPU us/call")
