"""The S3 repository: a host lost with its disk comes back from the S3 repository alone.

A topology archives into repository 1 (its disk) and repository 2 (moto's S3 server over TLS: pgBackRest
speaks only HTTPS to S3). Rows are written; the host is lost: every process stopped and its whole state
directory deleted, keeping only the secrets (a secrets manager's copy). A new host comes up from those
secrets, on an empty cluster, and `neurmatic restore --to-latest` brings the cluster back from S3 with
every row whose WAL was archived.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest

from neurmatic.supervisor.layout import DATABASE_NAME
from tests.conftest import RunningTopology, started_topology
from tests.s3_tls import TlsS3, tls_moto
from tests.support import free_base_port, make_state_parent, neurmatic


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsS3]:
    directory = make_state_parent(tmp_path_factory, "s3tls")
    with tls_moto(directory / "tls") as server:
        yield server


def _physical_backups(topology: RunningTopology, env: dict[str, str]) -> list[dict[str, object]]:
    out = neurmatic("backup", "list", "--physical", "--json", state_dir=topology.state_dir, env=env)
    return list(json.loads(out.stdout)["backups"])


def test_a_lost_host_comes_back_from_the_s3_repository_alone(
    s3: TlsS3, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bucket = f"neurmatic-pitr-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    env = s3.environment(bucket)
    vault = make_state_parent(tmp_path_factory, "vault")
    with started_topology(tmp_path_factory, "s3lost", env=env) as lost:
        assert {b["repo"] for b in _physical_backups(lost, env)} == {1, 2}  # a first full backup in each
        with lost.superuser(DATABASE_NAME) as conn:
            conn.execute("CREATE TABLE lost_probe (id int PRIMARY KEY)")
            for row_id in range(1, 41):
                conn.execute("INSERT INTO lost_probe VALUES (%s)", (row_id,))
        # Their WAL reaches S3 within archive_timeout; the dry run closes the segment at once.
        neurmatic("restore", "--to-latest", "--dry-run", state_dir=lost.state_dir, env=env)
        shutil.copy(lost.state_dir / "secrets.env", vault / "secrets.env")
    shutil.rmtree(lost.state_dir)  # the host and its disk are gone: repository 1 with them

    rebuilt = make_state_parent(tmp_path_factory, "s3rebuilt") / "state"
    try:
        up = neurmatic(
            "up",
            "--secrets-file",
            str(vault / "secrets.env"),
            "--base-port",
            str(free_base_port()),
            state_dir=rebuilt,
            env=env,
            timeout=600,
        )
        assert "another cluster's backups" in up.stderr + up.stdout
        result = neurmatic("restore", "--to-latest", "--yes", state_dir=rebuilt, env=env, timeout=900)
        fresh = RunningTopology(rebuilt)
        with fresh.superuser(DATABASE_NAME) as conn:
            rows = [row[0] for row in conn.execute("SELECT id FROM lost_probe ORDER BY id")]
        assert rows == list(range(1, 41)), result.stderr
        assert "repo2" in result.stderr
        assert "sync_standby" in fresh.status()["postgres-2"]["detail"]
        assert {b["repo"] for b in _physical_backups(fresh, env)} == {1, 2}  # a new baseline in each
    finally:
        neurmatic("down", state_dir=rebuilt, check=False, timeout=300)
