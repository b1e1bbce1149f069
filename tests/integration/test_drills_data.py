"""The data drills on a topology of their own, archiving into both repositories (its disk and moto's S3
over TLS): rows deleted (recovered to the moment before the DELETE from the WAL archive), the whole
server lost (rebuilt from the secrets and the S3 repository alone). The PostgreSQL HA drills are in
test_drills_ha.py.

Own topology: the server-loss drill deletes the state directory itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology, started_topology
from tests.integration.test_drills import assert_report_files, missed, run_drill, stage
from tests.s3_tls import tls_moto
from tests.support import make_state_parent, neurmatic

pytestmark = pytest.mark.topology
# The objectives: no committed row lost to a mistaken DELETE; at most 5 s of acknowledged
# writes lost with the whole server (the local topology closes a WAL segment every 3 s).
DATA_LOSS_RPO = "0"
SERVER_LOSS_RPO = "5"
# Measured on this 2-core machine: rows back ~15 s after the DELETE; a whole server rebuilt and
# restored from S3 in ~60-90 s (two full backups of the restored cluster included).
DATA_LOSS_RTO_BOUND = 60.0
SERVER_LOSS_RTO_BOUND = 240.0


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A bucket of its own in moto's S3 over TLS (pgBackRest speaks only HTTPS to S3)."""
    with tls_moto(make_state_parent(tmp_path_factory, "drill-s3") / "tls") as s3:
        bucket = f"neurmatic-drill-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        yield s3.environment(bucket)


@pytest.fixture(scope="module")
def data_topology(
    tmp_path_factory: pytest.TempPathFactory, s3_env: dict[str, str]
) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "data-drills", env=s3_env) as running:
        yield running


def test_data_loss_drill_loses_no_committed_row(data_topology: RunningTopology) -> None:
    code, report = run_drill(data_topology, "data-loss", "--duration", "90", "--rpo", DATA_LOSS_RPO)
    assert code == ExitCode.OK, missed(report)
    deleted = stage(report, "rows-deleted")
    assert deleted["failed_writes"] == 0  # the API never stopped taking writes
    # The RTO runs until the rows are back, not merely until writes succeed.
    assert deleted["restored_seconds"] is not None
    assert report["rto"]["seconds"] >= deleted["restored_seconds"]
    assert report["rto"]["seconds"] < DATA_LOSS_RTO_BOUND, report["rto"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["every deleted row came back"]["ok"], checks
    assert checks["no acknowledged write lost"]["ok"], checks
    assert report["rpo"]["known"] and report["rpo"]["checked_writes"] > 0
    assert report["rpo"]["lost_writes"] == 0 and report["rpo"]["seconds"] == 0, report["rpo"]
    assert_report_files(report)


def test_server_loss_drill_refuses_without_the_s3_settings(data_topology: RunningTopology) -> None:
    result = neurmatic("drill", "server-loss", "--yes", state_dir=data_topology.state_dir, check=False)
    assert result.returncode != ExitCode.OK
    assert "AWS_BACKUP_BUCKET" in result.stderr, result.stderr  # the hint says what to set
    assert all(s["state"] == "ready" for s in data_topology.status().values())  # nothing was touched


def test_server_loss_drill_rebuilds_from_secrets_and_the_s3_repository(
    data_topology: RunningTopology, s3_env: dict[str, str]
) -> None:
    secrets_before = (data_topology.state_dir / "secrets.env").read_text()
    code, report = run_drill(
        data_topology, "server-loss", "--duration", "300", "--rpo", SERVER_LOSS_RPO, env=s3_env
    )
    assert code == ExitCode.OK, missed(report)
    server = stage(report, "server")
    assert server["rto_seconds"] is not None and server["rto_seconds"] < SERVER_LOSS_RTO_BOUND, server
    assert server["failed_writes"] > 0  # the outage is real and measured
    assert report["rto"]["seconds"] == server["rto_seconds"]
    # Only what the archive had not shipped to S3 when the server died is lost.
    assert report["rpo"]["known"] and report["rpo"]["checked_writes"] > 0
    assert report["rpo"]["seconds"] <= float(SERVER_LOSS_RPO) and report["rpo"]["met"], report["rpo"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["the cluster came back from the S3 repository"]["ok"], checks
    assert (data_topology.state_dir / "secrets.env").read_text() == secrets_before
    assert all(s["state"] == "ready" for s in data_topology.status().values())
    with data_topology.client() as client:
        assert client.get("/api/v1/health/ready").status_code == 200
    assert_report_files(report)
