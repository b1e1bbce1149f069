"""The Express + node-postgres peer (bench/peer/express), run next to a topology for `./dev bench api`.

It is pointed at what the API writes to: the current PostgreSQL primary (node-postgres takes no multi-host
URL, so the primary is found the way the API's own URL finds it, ``target_session_attrs=read-write``) and
the Redis master Sentinel names, with the credentials of the topology's ``app.env``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote, urlsplit

import httpx
import psycopg
from redis.exceptions import RedisError

from bench import BenchError
from neurmatic.adapters.redis import direct, sentinel_addresses
from neurmatic.db.url import DatabaseUrl
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.services.app import app_settings
from neurmatic.supervisor.state import TopologyState

PEER_DIR = Path(__file__).parent / "peer" / "express"
POOL_SIZE = 10
READY_TIMEOUT_SECONDS = 20.0
STOP_GRACE_SECONDS = 5.0


class PeerError(BenchError):
    pass


def primary_database_url(state: TopologyState) -> str:
    """A one-host URL of the node that takes writes now, with the API's credentials."""
    url = DatabaseUrl.parse(read_env_file(state.paths.app_env_file)["DATABASE_URL"])
    with psycopg.connect(url.driver_dsn(), connect_timeout=5) as conn:
        host, port = conn.info.host, conn.info.port
    return dataclasses.replace(url, hosts=[(host, port)], params={}).driver_dsn()


def master_redis_url(state: TopologyState) -> str:
    """``redis://:password@host:port/db`` of the master the Sentinels name (REDIS_URL without them)."""
    settings = app_settings(state).redis
    url = urlsplit(settings.url.get_secret_value())
    host, port = url.hostname or HOST, url.port or 6379
    sentinel_password = settings.sentinel_password.get_secret_value() if settings.sentinel_password else None
    for sentinel_host, sentinel_port in sentinel_addresses(settings):
        client = direct(sentinel_host, sentinel_port, sentinel_password)
        try:
            found = client.sentinel_get_master_addr_by_name(settings.sentinel_master)
        except RedisError:
            continue  # ask the next Sentinel
        finally:
            client.close()
        if isinstance(found, tuple | list) and found:
            host, port = str(found[0]), int(found[1])
            break
    password = settings.password.get_secret_value() if settings.password else url.password
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}{url.path or '/0'}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_installed() -> str:
    """The node binary, with the peer's dependencies installed (``npm ci``) if they are not yet."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerError("the Express peer needs Node.js: apt-get install nodejs npm (or pass --no-peer)")
    if not (PEER_DIR / "node_modules").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise PeerError(f"npm ci failed in {PEER_DIR}:\n{done.stderr[-2000:]}")
    return node


class LoopbackServer:
    """A server the bench starts on a free loopback port (``with Server(...) as server:``) and stops after;
    subclasses say what to run."""

    name = "the server"
    health_path = "/health"

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, closed by stop()

    def command(self) -> tuple[list[str], dict[str, str], Path | None]:
        """argv, environment and working directory of the server."""
        raise NotImplementedError

    @property
    def pid(self) -> int:
        if self.process is None:
            raise PeerError(f"{self.name} is not running")
        return self.process.pid

    def __enter__(self) -> Self:
        argv, env, cwd = self.command()
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PeerError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}{self.health_path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise PeerError(f"{self.name} was not ready in {READY_TIMEOUT_SECONDS:.0f} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()


class ExpressPeer(LoopbackServer):
    """``with ExpressPeer(state, "cache") as peer:`` the peer serving on ``peer.base_url``; stopped after."""

    name = "the Express peer"

    def __init__(self, state: TopologyState, mode: str) -> None:
        super().__init__(state)
        self.mode = mode

    def command(self) -> tuple[list[str], dict[str, str], Path | None]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NODE_ENV": "production",
            "HOST": HOST,
            "PORT": str(self.port),
            "PEER_MODE": self.mode,
            "PG_POOL_SIZE": str(POOL_SIZE),
            "DATABASE_URL": primary_database_url(self.state),
            "REDIS_URL": master_redis_url(self.state),
        }
        return [ensure_installed(), "server.js"], env, PEER_DIR
