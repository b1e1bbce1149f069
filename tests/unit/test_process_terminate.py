"""Stopping a server stops everything it started, including children that left its process group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

from neurmatic.supervisor.process import group_members, kill_group, terminate
from tests.support import port_is_free

# A server that, like an RQ worker, forks a child into its own process group; the child ignores SIGTERM
# and would run a long job. With ``EXIT_ON_TERM`` the parent exits at once on SIGTERM (leaving the child).
SERVER = """
import os, signal, sys, time
exit_on_term = sys.argv[2] == "exit"
child = os.fork()
if child == 0:
    os.setpgrp()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)
if exit_on_term:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # waits for its child, as RQ's warm shutdown does
open(sys.argv[1], "w").write(str(child))  # ready: only now may the test signal it
time.sleep(300)
"""


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    child_file = tmp_path / "child.pid"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(child_file), mode], start_new_session=True)
    deadline = time.monotonic() + 10
    while not child_file.exists() or not child_file.read_text():
        assert time.monotonic() < deadline, "the test server never forked"
        time.sleep(0.02)
    return server, int(child_file.read_text())


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_server_that_ignores_the_signal_is_killed_with_its_detached_child(tmp_path: Path) -> None:
    server, child = _start(tmp_path, "wait")
    assert terminate(server.pid, grace=0.5) is True
    server.wait(timeout=5)
    assert _gone(child), "the child in its own process group outlived the kill"


def test_a_child_left_behind_by_a_server_that_exits_is_killed(tmp_path: Path) -> None:
    server, child = _start(tmp_path, "exit")
    assert terminate(server.pid, grace=5) is False
    server.wait(timeout=5)
    assert _gone(child), "the server exited and its child kept running"


# A server with a worker in its own process group, both holding a listening socket open.
GROUP = """
import os, socket, sys, time
listener = socket.create_server(("127.0.0.1", 0))
worker = os.fork()
open(sys.argv[1], "w").write(f"{worker} {listener.getsockname()[1]}") if worker else None
time.sleep(300)
"""


def test_a_group_kill_returns_once_every_process_is_dead_and_its_socket_closed(tmp_path: Path) -> None:
    ready = tmp_path / "worker"
    server = subprocess.Popen([sys.executable, "-c", GROUP, str(ready)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not ready.exists() or not ready.read_text():
        assert time.monotonic() < deadline, "the test server never forked"
        time.sleep(0.02)
    worker, port = (int(field) for field in ready.read_text().split())
    assert sorted(group_members(server.pid)) == sorted([server.pid, worker])

    assert kill_group(server.pid) is True
    # No waiting here: the call itself waited until the group was dead.
    assert _gone(server.pid) and _gone(worker)
    assert port_is_free(port), "a killed process still held its socket"
    server.wait(timeout=5)
