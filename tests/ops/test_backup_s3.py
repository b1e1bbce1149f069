"""Backups in S3 against moto's S3 server: upload after verification with its checksum, retention by the
tool (never the newest), the lifecycle rule, and an unreachable S3 that keeps the local backup."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.backups.files import manifest_path
from tests.conftest import RunningTopology
from tests.support import neurmatic, port_is_free, s3_client

BUCKET = "neurmatic-test-backups"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    port = next(p for p in range(45200, 45300) if port_is_free(p))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield endpoint
    server.stop()


def _neurmatic(topology: RunningTopology, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_BACKUP_BUCKET": BUCKET,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    return neurmatic(*args, state_dir=topology.state_dir, check=False, env=env)


def test_upload_retention_and_lifecycle(topology: RunningTopology, s3: str, tmp_path: Path) -> None:
    client = s3_client(s3)
    for old in ("neurmatic_20200101_020000.sql.gz", "neurmatic_20200102_020000.sql.gz"):  # far past 90 days
        client.put_object(Bucket=BUCKET, Key=f"database/{old}", Body=b"old")
    local_old = tmp_path / "neurmatic_20200101_020000.sql.gz"
    local_old.write_bytes(b"old")
    made = _neurmatic(topology, s3, "backup", "--dir", str(tmp_path), "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    key = f"database/{Path(report['path']).name}"
    assert report["s3"] == f"s3://{BUCKET}/{key}"
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == report["size"] and head["Metadata"]["sha256"] == report["sha256"]
    assert head.get("StorageClass") == "STANDARD_IA"
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert key in keys and key.replace(".sql.gz", ".manifest.json") in keys
    assert not any("2020" in k for k in keys)  # retention removed the old ones, kept the newest
    assert report["pruned"] == [str(local_old)] and not local_old.exists()
    listed = json.loads(_neurmatic(topology, s3, "backup", "list", "--dir", str(tmp_path), "--json").stdout)
    assert [b["key"] for b in listed["s3"]] == [key]
    applied = _neurmatic(topology, s3, "backup", "lifecycle", "apply")
    assert applied.returncode == 0, applied.stderr
    rules = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rules[0]["Transitions"][0] == {"Days": 90, "StorageClass": "GLACIER"}
    assert rules[0]["Expiration"]["Days"] == 365
    assert rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    target = f"from_s3_{Path(report['path']).stem.split('.')[0][-6:]}"
    restored = _neurmatic(topology, s3, "restore", report["s3"], "--db", target, "--dir", str(tmp_path))
    assert restored.returncode == 0, restored.stderr
    assert f"restored {Path(report['path']).name} into {target}" in restored.stderr
    missing = _neurmatic(topology, s3, "restore", f"s3://{BUCKET}/database/neurmatic_19990101_000000.sql.gz")
    assert missing.returncode == ExitCode.S3_UNAVAILABLE


def test_an_unreachable_s3_is_reported_and_the_local_backup_kept(
    topology: RunningTopology, tmp_path: Path
) -> None:
    closed = next(p for p in range(45300, 45400) if port_is_free(p))
    made = _neurmatic(topology, f"http://127.0.0.1:{closed}", "backup", "--dir", str(tmp_path))
    assert made.returncode == ExitCode.S3_UNAVAILABLE
    assert "local backup is kept" in made.stderr
    backups = sorted(tmp_path.glob("neurmatic_*.sql.gz"))
    assert len(backups) == 1 and backups[0].stat().st_size > 0


def test_directory_format_through_s3_restores_identical_tables(
    topology: RunningTopology, s3: str, tmp_path: Path
) -> None:
    from neurmatic.ops.flows.pg_access import table_fingerprints

    made = _neurmatic(topology, s3, "backup", "--format", "directory", "--dir", str(tmp_path), "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["s3"].endswith(".dir.tar.zst")
    target = f"zst_from_s3_{Path(report['path']).name[10:25]}"
    downloads = tmp_path / "elsewhere"  # a different directory: the file really comes from S3
    restored = _neurmatic(topology, s3, "restore", report["s3"], "--db", target, "--dir", str(downloads))
    assert restored.returncode == 0, restored.stderr
    fetched = downloads / "downloads" / Path(report["path"]).name
    # Private like every other backup, and complete under its name (no partial file left beside it).
    assert fetched.stat().st_mode & 0o777 == 0o600
    assert manifest_path(fetched).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in fetched.parent.iterdir()) == sorted(
        [fetched.name, manifest_path(fetched).name]
    )
    with topology.superuser(target) as conn:
        fingerprints = table_fingerprints(conn)
    assert {t: rows for t, (rows, _) in fingerprints.items()} == report["tables"]
    assert {t: checksum for t, (_, checksum) in fingerprints.items()} == report["checksums"]
