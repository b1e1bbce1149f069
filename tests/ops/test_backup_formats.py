"""The fast directory format, per-table checksums, the restore test after a backup, and the record of
the last good backup that the health check and the metrics read."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.pg_access import table_fingerprints
from neurmatic.supervisor.layout import HOST
from tests.conftest import RunningTopology
from tests.support import neurmatic


def _backup(topology: RunningTopology, directory: Path, *args: str) -> dict[str, object]:
    out = neurmatic("backup", "--dir", str(directory), "--json", *args, state_dir=topology.state_dir)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _fingerprints(topology: RunningTopology, database: str) -> dict[str, tuple[int, str]]:
    with topology.superuser(database) as conn:
        return table_fingerprints(conn)


@pytest.mark.parametrize("compress", ["zstd", "lz4", "gzip"])
def test_directory_format_round_trip_with_identical_tables_counts_and_checksums(
    topology: RunningTopology, tmp_path: Path, compress: str
) -> None:
    neurmatic("seed", "--articles", "200", "--users", "10", state_dir=topology.state_dir)
    made = _backup(topology, tmp_path, "--format", "directory", "--compress", compress, "--jobs", "2")
    path = Path(str(made["path"]))
    assert path.name.endswith({"zstd": ".dir.tar.zst", "lz4": ".dir.tar.lz4", "gzip": ".dir.tar"}[compress])
    assert made["format"] == f"directory-{compress}" and path.stat().st_mode & 0o077 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work directory left
    target = f"fast_{uuid.uuid4().hex[:6]}"
    neurmatic("restore", str(path), "--db", target, "--jobs", "2", state_dir=topology.state_dir)
    restored = _fingerprints(topology, target)
    tables = made["tables"]
    checksums = made["checksums"]
    assert isinstance(tables, dict) and isinstance(checksums, dict)
    assert set(restored) == set(tables) and tables["public.articles"] >= 200
    assert {t: rows for t, (rows, _) in restored.items()} == tables
    assert {t: checksum for t, (_, checksum) in restored.items()} == checksums


def test_a_changed_row_is_caught_by_the_checksums_even_with_equal_counts(
    topology: RunningTopology, tmp_path: Path
) -> None:
    made = _backup(topology, tmp_path)
    path = Path(str(made["path"]))
    manifest_file = path.with_name(path.name.replace(".sql.gz", ".manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    manifest["checksums"]["public.users"] = "12345"  # what the backup would hold after one edited row
    manifest_file.write_text(json.dumps(manifest))
    result = neurmatic("backup", "verify", str(path), state_dir=topology.state_dir, check=False)
    assert result.returncode == ExitCode.RESTORE_FAILED, result.stderr
    assert "public.users: same row count, different content" in result.stderr


def test_a_truncated_archive_is_refused(topology: RunningTopology, tmp_path: Path) -> None:
    path = Path(str(_backup(topology, tmp_path, "--format", "directory")["path"]))
    cut = tmp_path / "cut" / "neurmatic_20200101_000000.dir.tar.zst"
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = neurmatic("backup", "verify", str(cut), state_dir=topology.state_dir, check=False)
    assert result.returncode == ExitCode.BACKUP_INVALID and "not an intact" in result.stderr, result.stderr
    manifest = path.with_name(path.name.replace(".dir.tar.zst", ".manifest.json"))
    (cut.parent / "neurmatic_20200101_000000.manifest.json").write_bytes(manifest.read_bytes())
    with_manifest = neurmatic("restore", str(cut), "--yes", state_dir=topology.state_dir, check=False)
    assert with_manifest.returncode == ExitCode.BACKUP_INVALID and "manifest" in with_manifest.stderr


def _metric(topology: RunningTopology, name: str, newer_than: float) -> float:
    """``name`` as API instance 1 exports it, once newer than ``newer_than`` (the sampler runs every 5 s)."""
    url = f"http://{HOST}:{topology.state.ports.api(1)}/internal/metrics"
    deadline = time.monotonic() + 15
    seen = 0.0
    while time.monotonic() < deadline and seen < newer_than:
        for line in httpx.get(url, timeout=5).text.splitlines():
            if line.startswith(name + " "):
                seen = float(line.split()[1])
        time.sleep(0.5)
    return seen


def test_a_failed_backup_is_exported_for_the_backup_failed_alert(
    topology: RunningTopology, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    before = time.time()
    failed = neurmatic("backup", "--dir", str(blocker / "backups"), state_dir=topology.state_dir, check=False)
    assert failed.returncode != 0, failed.stdout
    seen = _metric(topology, "neurmatic_backup_last_failure_timestamp_seconds", before - 1)
    assert before - 1 <= seen <= time.time() + 1, seen
    # A later success is newer than the failure: the alert's condition no longer holds.
    _backup(topology, tmp_path / "good")
    assert _metric(topology, "neurmatic_backup_last_success_timestamp_seconds", seen) > seen


def test_backup_verify_flag_and_the_last_success_seen_by_health_and_metrics(
    topology: RunningTopology, tmp_path: Path
) -> None:
    made = _backup(topology, tmp_path, "--verify")
    assert made["verified"] is True
    record = json.loads((tmp_path / "last_success.json").read_text())
    assert record["file"] == Path(str(made["path"])).name and record["verified"] is True
    health = json.loads(
        neurmatic(
            "health", "--json", "--backup-dir", str(tmp_path), state_dir=topology.state_dir, check=False
        ).stdout
    )
    backups = next(c for c in health["checks"] if c["name"] == "backups")
    assert backups["status"] == "up" and "verified" in backups["detail"]
    wanted = "neurmatic_backup_last_success_timestamp_seconds"
    seen = _metric(topology, wanted, time.time() - 120)
    assert abs(seen - time.time()) < 120, f"{wanted} = {seen}"
