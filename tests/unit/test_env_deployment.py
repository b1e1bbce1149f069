"""An env file names one deployment, or is refused: no silent localhost, no mix with the shell's."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from neurmatic.deployment.env import from_env_file
from neurmatic.errors import ConfigurationError, TopologyNotRunningError
from neurmatic.ops.driver_errors import translate

URL = "postgresql://app:file-secret@10.0.0.5:5432,10.0.0.6:5432/neurmatic_production"


def _env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env.production"
    path.write_text(text)
    return path


def test_a_file_without_database_url_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="sets no DATABASE_URL"):
        from_env_file(_env(tmp_path, "FOO=bar\n"))


def test_a_shell_database_url_that_differs_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x:shell-secret@127.0.0.1:1/other")
    with pytest.raises(ConfigurationError, match="differs") as refused:
        from_env_file(_env(tmp_path, f"DATABASE_URL={URL}\n"))
    assert "secret" not in str(refused.value)


def test_the_file_describes_every_node_and_the_admin_defaults_to_the_app_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    deployment = from_env_file(_env(tmp_path, f"DATABASE_URL={URL}\nBACKUP_DIR={tmp_path}/b\n"))
    assert deployment.app.hosts == (("10.0.0.5", 5432), ("10.0.0.6", 5432))
    assert (deployment.admin.user, deployment.admin.dbname) == ("app", "postgres")
    assert deployment.backup_dir == tmp_path / "b"


@pytest.mark.parametrize(
    "url", ["postgresql:/app:TopSecret1@h:5432/db", "postgresql://app:Top/Secret1@h:5432/db"]
)
def test_a_malformed_url_never_echoes_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        from_env_file(_env(tmp_path, f"DATABASE_URL={url}\n"))
    assert "Secret1" not in str(refused.value)


def test_a_database_that_does_not_answer_is_an_error_of_ours() -> None:
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2")
    assert isinstance(translate(raised.value), TopologyNotRunningError)
    assert translate(ValueError("not a driver error")) is None
