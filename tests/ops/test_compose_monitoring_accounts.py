"""The monitoring accounts and secrets of ``docker-compose.production.yml``, run as the containers run
them (the servers are this machine's, the configs and command lines the rendered ones): the Redis
exporter's ``metrics`` user on a Redis server and a Sentinel may read INFO and nothing else, and
Alertmanager's entrypoint writes its secrets owner-only and starts on the rendered config."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from neurmatic.polling import poll
from neurmatic.render.alerting.alertmanager import PRODUCTION_SECRETS_DIR
from neurmatic.render.production import production_files
from tests.support import require_binary

PASSWORDS = {
    name: secrets.token_urlsafe(24)
    for name in ("REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "METRICS_REDIS_PASSWORD")
}


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(production_files()["docker-compose.production.yml"])
    return compose


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}`` then ``$$`` interpolation."""
    value = re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value)
    return value.replace("$$", "$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _running(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait(what: str, ready: Any, log: Path) -> None:
    polled = poll(ready, timeout=15, interval=0.2)
    assert polled.done, f"{what} not ready ({polled.why}): {log.read_text()[-2000:]}"


def _answers(client: redis.Redis) -> bool:
    return bool(client.ping())


def _command(client: redis.Redis, *command: str) -> Any:
    return client.execute_command(*command)  # type: ignore[no-untyped-call]


def _refused(client: redis.Redis, *command: str) -> bool:
    try:
        _command(client, *command)
    except redis.exceptions.NoPermissionError:
        return True
    return False


@pytest.fixture()
def redis_master(tmp_path: Path) -> Iterator[int]:
    """redis-server on the rendered redis.conf with the compose service's command line."""
    binary = require_binary("redis-server")
    conf = tmp_path / "redis.conf"
    conf.write_text(
        production_files()["infrastructure/redis/redis.conf"].replace("dir /data", f"dir {tmp_path}")
    )
    command = [_interpolate(word, PASSWORDS) for word in _compose()["services"]["redis-master"]["command"]]
    assert command[:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    port = _free_port()
    local = ["--port", str(port), "--bind", "127.0.0.1", "--appendonly", "no"]
    log = tmp_path / "redis.log"
    with _running([binary, str(conf), *command[2:], *local], log):
        _wait("redis", lambda: _answers(redis.Redis(port=port, password=PASSWORDS["REDIS_PASSWORD"])), log)
        yield port


def test_the_redis_exporters_user_reads_info_and_no_key(redis_master: int) -> None:
    owner = redis.Redis(port=redis_master, password=PASSWORDS["REDIS_PASSWORD"])
    owner.set("session:1", "secret")
    metrics = redis.Redis(port=redis_master, username="metrics", password=PASSWORDS["METRICS_REDIS_PASSWORD"])
    assert "redis_version" in metrics.info()
    assert metrics.info("memory")["maxmemory"] == 2 * 1024**3  # what the exporter reads, without CONFIG
    assert metrics.dbsize() == 1
    for command in (
        ("GET", "session:1"),
        ("SET", "k", "v"),
        ("KEYS", "*"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("CONFIG", "GET", "requirepass"),  # the servers' own password
        ("CONFIG", "GET", "masterauth"),
        ("SLOWLOG", "GET"),  # slow commands' arguments
    ):
        assert _refused(metrics, *command), command
    wrong = redis.Redis(port=redis_master, username="metrics", password="wrong")
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()


def test_the_sentinels_metrics_user_reads_the_masters_and_changes_nothing(
    redis_master: int, tmp_path: Path
) -> None:
    binary = require_binary("redis-server")  # redis-sentinel is redis-server in Sentinel mode
    service = _compose()["services"]["sentinel-1"]
    script = _interpolate(service["command"][2], {})  # the $$VARIABLES stay for the shell
    shared = tmp_path / "shared-sentinel.conf"
    # The master's compose name and port, this machine's; everything else as rendered.
    shared.write_text(
        production_files()["infrastructure/redis/sentinel.conf"]
        .replace("redis-master 6379", f"127.0.0.1 {redis_master}")
        .replace("dir /data", f"dir {tmp_path}")
    )
    port = _free_port()
    script = script.replace("/etc/redis/sentinel.conf", str(shared)).replace("/data/", f"{tmp_path}/")
    script = (
        script.replace("exec redis-sentinel", f"exec {binary}")
        + f" --sentinel --port {port} --bind 127.0.0.1"
    )
    env = {**{k: v for k, v in os.environ.items() if k == "PATH"}, **PASSWORDS}
    log = tmp_path / "sentinel.log"
    with _running(["sh", "-c", script], log, env):
        owner = redis.Redis(port=port, password=PASSWORDS["REDIS_SENTINEL_PASSWORD"])
        _wait("sentinel", lambda: _answers(owner), log)
        metrics = redis.Redis(port=port, username="metrics", password=PASSWORDS["METRICS_REDIS_PASSWORD"])
        assert metrics.info()["redis_mode"] == "sentinel"
        masters = _command(metrics, "SENTINEL", "MASTERS")
        assert masters[0][b"name"] == b"mymaster"
        for command in (("SENTINEL", "FAILOVER", "mymaster"), ("SENTINEL", "SET", "mymaster", "quorum", "1")):
            assert _refused(metrics, *command), command
        assert _refused(metrics, "ACL", "LIST")


def test_alertmanager_writes_its_secrets_owner_only_and_starts(tmp_path: Path) -> None:
    """The compose entrypoint script with the container's paths moved under tmp_path and this machine's
    Alertmanager: the files hold exactly the variables, mode 0600, and Alertmanager answers ready."""
    binary = require_binary("prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
    service = _compose()["services"]["alertmanager"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    assert service["tmpfs"] == [f"{PRODUCTION_SECRETS_DIR}:mode=1777"]
    etc = tmp_path / "etc"
    (etc / "secrets").mkdir(parents=True)
    (etc / "alertmanager.yml").write_text(
        production_files()["infrastructure/alertmanager/alertmanager.yml"].replace(
            PRODUCTION_SECRETS_DIR, str(etc / "secrets")
        )
    )
    port = _free_port()
    script = (
        _interpolate(service["command"][0], {})
        .replace(PRODUCTION_SECRETS_DIR, str(etc / "secrets"))
        .replace("/etc/alertmanager", str(etc))
        .replace("exec /bin/alertmanager", f"exec {binary}")
        .replace("--storage.path=/alertmanager", f"--storage.path={tmp_path / 'data'}")
        .replace("--web.listen-address=:9093", f"--web.listen-address=127.0.0.1:{port}")
    )
    env = {
        "PATH": os.environ["PATH"],
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/abc",
        "SENDGRID_API_KEY": "SG.key-" + secrets.token_urlsafe(8),
    }
    log = tmp_path / "alertmanager.log"
    with _running(["sh", "-c", script], log, env) as process:
        import urllib.request

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        _wait("alertmanager", ready, log)
        written = {path.name: path for path in (etc / "secrets").iterdir()}
        assert set(written) == {"slack_webhook_url", "smtp_password"}
        assert written["slack_webhook_url"].read_text() == env["SLACK_WEBHOOK_URL"]
        assert written["smtp_password"].read_text() == env["SENDGRID_API_KEY"]
        for path in written.values():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        # Alertmanager itself (the shell exec'd it) no longer has them in its environment.
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert env["SENDGRID_API_KEY"].encode() not in environ
        assert b"SLACK_WEBHOOK_URL" not in environ
