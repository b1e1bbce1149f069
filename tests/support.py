"""Helpers shared by the test suites: required binaries, free ports, running the real CLI."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from neurmatic.supervisor.layout import HOST, Ports

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
    """A base port whose every derived port is free right now."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - 500, 10)
        if all(port_is_free(port) for port in Ports(base).all_ports()):
            return base
    raise RuntimeError("no free range of ports found on 127.0.0.1")


def neurmatic(
    *args: str,
    state_dir: Path | None = None,
    timeout: float = 300,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``neurmatic`` command, as a user would."""
    argv = [sys.executable, "-m", "neurmatic", *args]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False, input=stdin
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"neurmatic {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


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


def remove_state_parents() -> None:
    for parent in _created:
        shutil.rmtree(parent, ignore_errors=True)
