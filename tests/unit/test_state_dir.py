"""The state directory: permissions, secrets and the service account."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from neurmatic.errors import StateDirError
from neurmatic.supervisor.state import SECRET_NAMES, TopologyState
from tests.support import free_base_port, make_state_parent


def test_a_state_dir_the_service_account_cannot_reach_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    if os.geteuid() != 0:  # servers run as ourselves: a private directory is fine
        assert TopologyState.create(locked / "state", base_port=free_base_port()).account.name is None
        return
    with pytest.raises(StateDirError, match="cannot reach") as caught:
        TopologyState.create(locked / "state", base_port=free_base_port())
    assert "chmod o+x" in str(caught.value)
    assert not (locked / "state").exists()


def test_created_state_has_private_strong_secrets_and_loads_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = make_state_parent(tmp_path_factory, "state") / "s"
    created = TopologyState.create(root, base_port=free_base_port())
    assert stat.S_IMODE(created.paths.secrets_file.stat().st_mode) == 0o600
    assert set(created.secrets) == set(SECRET_NAMES) and all(len(v) >= 64 for v in created.secrets.values())
    loaded = TopologyState.load(root)
    assert loaded.secrets == created.secrets and loaded.ports == created.ports


def test_a_state_dir_missing_secrets_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = make_state_parent(tmp_path_factory, "state") / "s"
    TopologyState.create(root, base_port=free_base_port())
    (root / "secrets.env").write_text("JWT_SECRET=x\n")
    with pytest.raises(StateDirError, match="lacks"):
        TopologyState.load(root)
