"""PostgreSQL (primary + streaming standby), Redis (master + replica) and three Sentinels, started by the
test itself with ``pg_ctl`` and ``redis-server`` on free loopback ports: servers that ``neurmatic up`` did
not start, as on a production host run by someone else (compose, systemd, a managed service).

When the tests run as root, the servers run as the unprivileged ``neurmatic`` account (PostgreSQL refuses
root); their directory is under a world-searchable parent for that reason.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from neurmatic.adapters.redis import sentinel_command
from tests.support import neurmatic, port_is_free, require_binary, s3_bucket_on_loopback

ACCOUNT = "neurmatic"
HOST = "127.0.0.1"
APP_ROLE = "neurmatic_prod"
DATABASE = "neurmatic_production"
MASTER_NAME = "mymaster"


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return require_binary(name, *(str(c) for c in candidates))


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    candidate = 31000 + (os.getpid() % 500) * 20
    while len(ports) < count:
        if port_is_free(candidate):
            ports.append(candidate)
        candidate += 1
    return ports


def _as_account(argv: Sequence[str]) -> list[str]:
    """``argv`` run as the unprivileged account when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return list(argv)
    try:
        pwd.getpwnam(ACCOUNT)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", ACCOUNT], check=True)
    return ["runuser", "-u", ACCOUNT, "--", *argv]


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(ACCOUNT)
        for item in [path, *path.rglob("*")]:
            os.chown(item, entry.pw_uid, entry.pw_gid)


def _run(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        _as_account(argv), capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def _wait(what: str, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {timeout:g}s (last error: {last!r})")


@dataclass
class StandaloneServers:
    root: Path
    superuser_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    app_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sentinel_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: list[int] = field(default_factory=lambda: _free_ports(7))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def postgres_ports(self) -> tuple[int, int]:
        return self.ports[0], self.ports[1]

    @property
    def redis_ports(self) -> tuple[int, int]:
        return self.ports[2], self.ports[3]

    @property
    def sentinel_ports(self) -> list[int]:
        return self.ports[4:7]

    # PostgreSQL -------------------------------------------------------------------------------------

    def start_postgres(self) -> None:
        primary, standby = self.root / "pg-primary", self.root / "pg-standby"
        pwfile = self.root / "pg-password"
        pwfile.write_text(self.superuser_password + "\n")
        _own(self.root)
        _run([
            _pg_bin("initdb"), "-D", str(primary), "-U", "postgres", "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8",
        ])  # fmt: skip
        pwfile.unlink()
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{HOST}'\nunix_socket_directories = '{self.root}'\n"
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n"
            )
        (primary / "pg_hba.conf").write_text(
            f"local all all scram-sha-256\nhost all all {HOST}/32 scram-sha-256\n"
            f"host replication all {HOST}/32 scram-sha-256\n"
        )
        self._pg_ctl(primary, self.postgres_ports[0])
        admin = {"PGPASSWORD": self.superuser_password}
        psql = [
            _pg_bin("psql"),
            "-h",
            HOST,
            "-p",
            str(self.postgres_ports[0]),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        _run([*psql, "-c", f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{self.app_password}'"], admin)
        _run([*psql, "-c", f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}"], admin)
        _run([
            _pg_bin("pg_basebackup"), "-h", HOST, "-p", str(self.postgres_ports[0]), "-U", "postgres",
            "-D", str(standby), "-R", "-X", "stream", "--checkpoint=fast",
        ], admin)  # fmt: skip
        self._pg_ctl(standby, self.postgres_ports[1])

    def _pg_ctl(self, data: Path, port: int) -> None:
        _run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                f"-p {port}",
                "-l",
                str(data / "server.log"),
                "-w",
                "start",
            ]
        )

    # Redis ------------------------------------------------------------------------------------------

    def start_redis(self) -> None:
        master, replica = self.redis_ports
        for port, extra in ((master, ""), (replica, f"replicaof {HOST} {master}\n")):
            directory = self.root / f"redis-{port}"
            directory.mkdir()
            (directory / "redis.conf").write_text(
                f"bind {HOST}\nport {port}\ndir {directory}\nrequirepass {self.redis_password}\n"
                f"masterauth {self.redis_password}\nappendonly no\nsave ''\n{extra}"
            )
            self._spawn([require_binary("redis-server"), str(directory / "redis.conf")], directory)
        for port in self.sentinel_ports:
            directory = self.root / f"sentinel-{port}"
            directory.mkdir()
            (directory / "sentinel.conf").write_text(
                f"bind {HOST}\nport {port}\ndir {directory}\nrequirepass {self.sentinel_password}\n"
                f"sentinel sentinel-pass {self.sentinel_password}\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {master} 2\n"
                f"sentinel auth-pass {MASTER_NAME} {self.redis_password}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 3000\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            )
            self._spawn(
                [require_binary("redis-server"), str(directory / "sentinel.conf"), "--sentinel"], directory
            )
        _wait("the Redis replica's link", lambda: self._replica_linked(replica))
        _wait("the Sentinels' view of the replica", self._sentinels_know_replica)

    def _spawn(self, argv: list[str], directory: Path) -> None:
        _own(directory)
        log = (directory / "server.log").open("ab")
        self.processes.append(subprocess.Popen(_as_account(argv), stdout=log, stderr=subprocess.STDOUT))

    def _replica_linked(self, port: int) -> bool:
        client = redis.Redis(host=HOST, port=port, password=self.redis_password, socket_timeout=1)
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def _sentinels_know_replica(self) -> bool:
        for port in self.sentinel_ports:
            client = redis.Redis(host=HOST, port=port, password=self.sentinel_password, socket_timeout=1)
            try:
                replicas = sentinel_command(client, "REPLICAS", MASTER_NAME)
                peers = sentinel_command(client, "SENTINELS", MASTER_NAME)
                if not replicas or len(peers) < 2:
                    return False
            finally:
                client.close()
        return True

    def redis_master(self) -> tuple[str, int]:
        client = redis.Redis(host=HOST, port=self.sentinel_ports[0], password=self.sentinel_password)
        try:
            host, port = sentinel_command(client, "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
            return str(host), int(port)
        finally:
            client.close()

    # The operators' env file ------------------------------------------------------------------------

    def env_values(self) -> dict[str, str]:
        """What differs from a generated ``.env.production``: where these servers are."""
        nodes = ",".join(f"{HOST}:{port}" for port in self.postgres_ports)
        unused = _free_ports(1)[0]  # no load balancer runs: the API check must say so
        return {
            "DATABASE_URL": f"postgresql://{APP_ROLE}:{self.app_password}@{nodes}/{DATABASE}"
            "?target_session_attrs=read-write",
            "DATABASE_REPLICA_URL": "",
            "DATABASE_ADMIN_URL": f"postgresql://postgres:{self.superuser_password}@{nodes}/postgres",
            "REDIS_URL": f"redis://{HOST}:{self.redis_ports[0]}/0",
            "REDIS_PASSWORD": self.redis_password,
            "REDIS_SENTINELS": ",".join(f"{HOST}:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_SENTINEL_PASSWORD": self.sentinel_password,
            "API_URL": f"https://{HOST}:{unused}",
            "BCRYPT_ROUNDS": "4",
        }

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for data in (self.root / "pg-standby", self.root / "pg-primary"):
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    _as_account([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]), check=False
                )
        shutil.rmtree(self.root, ignore_errors=True)


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """The generated .env.production with these servers' addresses in place of the guide's hosts."""
    neurmatic("secrets", "generate", "--out", str(path))
    lines = path.read_text().splitlines()
    keys = [line.partition("=")[0] for line in lines]
    lines = [f"{key}={values[key]}" if key in values else line for key, line in zip(keys, lines, strict=True)]
    lines += [f"{key}={value}" for key, value in values.items() if key not in keys]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class EnvFileDeployment:
    """Standalone servers and the operators' env file pointing at them (backups to a loopback S3)."""

    servers: StandaloneServers
    env_file: Path
    s3_endpoint: str


@contextmanager
def env_file_deployment(parent: Path, bucket: str, extra: dict[str, str]) -> Iterator[EnvFileDeployment]:
    """PostgreSQL, Redis and Sentinels started under ``parent``, an S3 bucket on loopback, and the
    generated ``.env.production`` pointed at them (``extra`` added); all stopped afterwards."""
    servers = StandaloneServers(parent / "servers")
    (parent / "servers").mkdir()
    with s3_bucket_on_loopback(bucket) as s3_settings:
        try:
            servers.start_postgres()
            servers.start_redis()
            env_file = parent / ".env.production"
            write_env_file(env_file, {**servers.env_values(), **s3_settings, **extra})
            yield EnvFileDeployment(servers, env_file, s3_settings["AWS_ENDPOINT_URL"])
        finally:
            servers.stop()
