"""The data drills on a topology of their own: rows deleted (restore-table), the whole server lost
(rebuilt from the secrets and the latest backup in S3). The PostgreSQL HA drills are in test_drills_ha.py.

Own topology: the server-loss drill deletes the state directory itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology, started_topology
from tests.integration.test_drills import assert_report_files, run_drill, stage
from tests.support import port_is_free

pytestmark = pytest.mark.topology
BUCKET = "neurmatic-drill-backups"
# Measured on this 2-core machine: a whole server rebuilt in 25-30 s.
SERVER_LOSS_RTO_BOUND = 120.0


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    port = next(p for p in range(45400, 45500) if port_is_free(p))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_BACKUP_BUCKET": BUCKET,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield env
    server.stop()


@pytest.fixture(scope="module")
def data_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "data-drills") as running:
        yield running


def test_data_loss_drill_recovers_the_rows_and_reports_what_no_backup_held(
    data_topology: RunningTopology,
) -> None:
    code, report = run_drill(data_topology, "data-loss", "--duration", "60")
    assert code == ExitCode.OK, report
    deleted = stage(report, "rows-deleted")
    assert deleted["restored_seconds"] is not None and deleted["failed_writes"] == 0
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["the rows in the backup came back"]["ok"], checks
    # Writes acknowledged between the backup and the DELETE exist in no backup: that is the RPO.
    assert report["rpo"]["lost_writes"] > 0 and 0 < report["rpo"]["seconds"] < 30


def test_server_loss_drill_rebuilds_from_secrets_and_s3(
    data_topology: RunningTopology, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)  # the drill's process reads the bucket from its environment
    secrets_before = (data_topology.state_dir / "secrets.env").read_text()
    code, report = run_drill(data_topology, "server-loss", "--duration", "120")
    assert code == ExitCode.OK, report
    server = stage(report, "server")
    assert server["rto_seconds"] is not None and server["rto_seconds"] < SERVER_LOSS_RTO_BOUND, server
    assert server["failed_writes"] > 0  # the outage is real and measured
    assert report["rpo"]["known"] and report["rpo"]["lost_writes"] > 0  # written after the last backup
    assert (data_topology.state_dir / "secrets.env").read_text() == secrets_before
    assert all(s["state"] == "ready" for s in data_topology.status().values())
    with data_topology.client() as client:
        assert client.get("/api/v1/health/ready").status_code == 200
    assert_report_files(report)
