"""Helpers shared by the test suites: required binaries, free ports, running the real CLI, accounts
signed in over HTTP and their bearer headers."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import psycopg
import pytest

from neurmatic.supervisor.layout import HOST, MAX_API_INSTANCES, Ports

ROOT = Path(__file__).resolve().parents[1]


def require_binary(name: str, *candidates: str) -> str:
    """The binary's path; with CI set a missing binary fails the test run instead of skipping it."""
    found = shutil.which(name) or next((c for c in candidates if Path(c).is_file()), None)
    if not found:
        unavailable(f"{name} is not installed (./dev setup installs it)")
    return found


def unavailable(message: str) -> NoReturn:
    """A missing prerequisite: fails the run under CI (never a silent pass), skips on a laptop."""
    pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    raise AssertionError("unreachable")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_base_port() -> int:
    """A base port whose every derived port is free, with room for the most API instances (scaling),
    below the kernel's ephemeral range: a topology's later ports (an instance started by `scale` minutes
    after the check) can never have been taken meanwhile by some client's local port."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    first, last = 10000, max(10010, low - Ports().span - 20)
    # NEURMATIC_TEST_PORTS=lo-hi: the bases this run may use (.ci/run runs two side by side, apart).
    chosen = os.environ.get("NEURMATIC_TEST_PORTS")
    if chosen:
        first, last = (int(part) for part in chosen.split("-", 1))
    for _ in range(200):
        base = random.randrange(first, last - Ports().span, 10)
        if all(port_is_free(port) for port in Ports(base).all_ports(MAX_API_INSTANCES)):
            return base
    raise RuntimeError("no free range of ports found on 127.0.0.1")


def neurmatic(
    *args: str,
    state_dir: Path | None = None,
    timeout: float = 300,
    check: bool = True,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``neurmatic`` command, as a user would (from a script: stdin is never a terminal),
    with ``env`` added to this process's environment."""
    argv = [sys.executable, "-m", "neurmatic", *args]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        input=stdin or "",
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"neurmatic {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def scalar(cursor: psycopg.Cursor[tuple[Any, ...]]) -> Any:
    """The first column of the one row a query returned."""
    row = cursor.fetchone()
    assert row is not None, "the query returned no row"
    return row[0]


def make_state_parent(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A temporary directory the unprivileged service account can walk into.

    Not under pytest's own tree: pytest resets /tmp/pytest-of-USER to mode 0700 whenever a session
    starts, which would lock the servers out of their state directory mid-run.
    """
    parent = Path(tempfile.mkdtemp(prefix=f"neurmatic-{name}-"))
    parent.chmod(0o755)
    _created.append(parent)
    return parent


_created: list[Path] = []


def never_started_state(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A topology's state directory as `up` leaves it before starting the first server (its ``app.env``
    written, on a free base port; removed with every state directory at the end of the session)."""
    from neurmatic.supervisor.state import TopologyState
    from neurmatic.supervisor.topology import Topology

    state_dir = make_state_parent(tmp_path_factory, name) / "state"
    Topology(TopologyState.create(state_dir, base_port=free_base_port())).write_app_environment()
    return state_dir


def remove_state_parents() -> None:
    for parent in _created:
        shutil.rmtree(parent, ignore_errors=True)


PASSWORD = "Correct-Horse-Battery-9"


def register_and_login(client: httpx.Client, prefix: str) -> tuple[str, httpx.Response]:
    """A new account registered and signed in through ``client`` (nginx); (its email, the sign-in)."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    account = {"email": email, "username": f"{prefix}_{uuid.uuid4().hex[:8]}", "password": PASSWORD}
    created = client.post("/api/v1/auth/register", json={**account, "termsAccepted": True})
    assert created.status_code == 201, created.text
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return email, login


def access_token(login: httpx.Response) -> str:
    """The access token a sign-in answered with."""
    return str(login.json()["data"]["accessToken"])


def signed_in_token(client: httpx.Client, prefix: str) -> str:
    """The access token of a new account registered and signed in through ``client``."""
    return access_token(register_and_login(client, prefix)[1])


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that presents ``token``."""
    return {"Authorization": f"Bearer {token}"}


def s3_client(endpoint: str) -> Any:  # boto3 is untyped
    """A client of the local S3 server (moto) the tests start, with its throwaway credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@contextmanager
def s3_bucket_on_loopback(bucket: str) -> Iterator[dict[str, str]]:
    """An S3 endpoint (moto) on a free loopback port holding ``bucket``; yields the env file's settings
    that point a deployment's backups at it."""
    from moto.server import ThreadedMotoServer

    port = next(p for p in range(45300, 45400) if port_is_free(p))
    moto = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    moto.start()
    endpoint = f"http://{HOST}:{port}"
    try:
        s3_client(endpoint).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_BACKUP_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
    finally:
        moto.stop()


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 15) -> None:
    """Until ``process`` listens on 127.0.0.1:``port``; fails with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}: {log.read_text()}")
