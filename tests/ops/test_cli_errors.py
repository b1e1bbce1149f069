"""The CLI's clear errors: each says what is wrong and what to do, with its own exit code."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest

from neurmatic.adapters.commands import require_binary
from neurmatic.errors import MissingBinaryError, PortInUseError
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.supervisor.layout import HOST, Ports
from neurmatic.supervisor.service import check_port_free
from tests.conftest import RunningTopology
from tests.support import free_base_port, make_state_parent, neurmatic


def test_status_without_a_topology_says_how_to_start_one(tmp_path: Path) -> None:
    result = neurmatic("status", state_dir=tmp_path / "nothing", check=False)
    assert result.returncode == ExitCode.STATE_DIR
    assert "no topology in" in result.stderr and "neurmatic up" in result.stderr


def test_a_state_dir_from_an_incompatible_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "topology.json").write_text(json.dumps({"format": 99, "created_by": "9.9.9", "base_port": 1}))
    (tmp_path / "secrets.env").write_text("")
    result = neurmatic("status", state_dir=tmp_path, check=False)
    assert result.returncode == ExitCode.STATE_DIR
    assert "made by neurmatic 9.9.9" in result.stderr and "--state-dir" in result.stderr


def test_a_state_dir_from_before_patroni_is_refused_with_the_way_across(tmp_path: Path) -> None:
    (tmp_path / "topology.json").write_text(json.dumps({"format": 1, "created_by": "0.1.0", "base_port": 1}))
    (tmp_path / "secrets.env").write_text("")
    for command in ("status", "up"):
        result = neurmatic(command, state_dir=tmp_path, check=False)
        assert result.returncode == ExitCode.STATE_DIR, result.stderr
        assert "before PostgreSQL ran under Patroni" in result.stderr
        assert "neurmatic backup" in result.stderr and "neurmatic restore" in result.stderr


def test_up_names_the_port_in_use_and_how_to_move(tmp_path: Path) -> None:
    base = free_base_port()
    with socket.socket() as blocker:
        blocker.bind((HOST, Ports(base).postgres(2)))
        blocker.listen()
        result = neurmatic("up", "--base-port", str(base), state_dir=tmp_path / "state", check=False)
    assert result.returncode == ExitCode.PORT_IN_USE
    assert f"port {Ports(base).postgres(2)}" in result.stderr and "--base-port" in result.stderr
    assert not (tmp_path / "state").exists()  # nothing half-created


def test_port_check_names_the_holder() -> None:
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} .* needed by backend-1"):
            check_port_free(port, "backend-1")


def test_a_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(MissingBinaryError) as caught:
        require_binary("neurmatic-no-such-server", package="no-such-package")
    assert "apt-get install -y no-such-package" in str(caught.value)


def test_logs_of_an_unknown_service_lists_the_known_ones(tmp_path_factory: pytest.TempPathFactory) -> None:
    from neurmatic.supervisor.state import TopologyState

    state_dir = make_state_parent(tmp_path_factory, "logs") / "s"
    TopologyState.create(state_dir, base_port=free_base_port())
    result = neurmatic("logs", "nosuch", state_dir=state_dir, check=False)
    assert result.returncode == ExitCode.USAGE  # a wrong argument, as the README's table says
    assert "no service named 'nosuch'" in result.stderr
    assert "postgres-1" in result.stderr and "backend-2" in result.stderr and "watcher" in result.stderr


def test_logs_of_nginx_are_its_error_and_access_logs(topology: RunningTopology) -> None:
    marker = f"/api/v1/no-such-route-{uuid.uuid4().hex}"
    with topology.client() as client:
        assert client.get(marker).status_code == 404
    access = topology.state_dir / "nginx" / "logs" / "access.log"
    deadline = time.monotonic() + 10  # nginx writes its access line once the answer is sent
    while marker not in access.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    shown = neurmatic("logs", "nginx", "-n", "20", state_dir=topology.state_dir).stdout
    assert f"==> {topology.state_dir / 'nginx' / 'logs' / 'error.log'} <==" in shown
    assert f"==> {access} <==" in shown and marker in shown
