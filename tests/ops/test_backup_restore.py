"""Backups that can be trusted: a verified round trip, refusals before anything is touched, errors that
say where, and no partial file after a full disk."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import uuid
from pathlib import Path

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology
from tests.support import neurmatic, scalar


def _rows(topology: RunningTopology, database: str) -> dict[str, int]:
    with topology.superuser(database) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        return {t: int(scalar(conn.execute(f'SELECT count(*) FROM public."{t}"'))) for (t,) in tables}


def _backup(topology: RunningTopology, directory: Path) -> Path:
    out = neurmatic("backup", "--dir", str(directory), "--json", state_dir=topology.state_dir)
    return Path(json.loads(out.stdout)["path"])


def test_round_trip_into_another_database_and_the_restore_test(
    topology: RunningTopology, tmp_path: Path
) -> None:
    neurmatic("seed", "--articles", "300", "--users", "20", state_dir=topology.state_dir)
    backup = _backup(topology, tmp_path)
    manifest = json.loads(backup.with_name(backup.name.replace(".sql.gz", ".manifest.json")).read_text())
    assert backup.stat().st_mode & 0o077 == 0  # the data is private
    assert manifest["tables"]["public.articles"] >= 300 and len(manifest["sha256"]) == 64
    target = f"restored_{uuid.uuid4().hex[:6]}"
    neurmatic("restore", str(backup), "--db", target, state_dir=topology.state_dir)
    restored = _rows(topology, target)
    assert {f"public.{t}": n for t, n in restored.items()} == manifest["tables"]
    verified = neurmatic("backup", "verify", str(backup), state_dir=topology.state_dir)
    assert "match the manifest" in verified.stderr
    refused = neurmatic("restore", str(backup), "--db", target, state_dir=topology.state_dir, check=False)
    assert refused.returncode == ExitCode.ABORTED and "--yes" in refused.stderr
    listed = json.loads(
        neurmatic("backup", "list", "--dir", str(tmp_path), "--json", state_dir=topology.state_dir).stdout
    )
    assert [b["path"] for b in listed["local"]] == [str(backup)]


def test_truncated_and_corrupt_backups_are_refused_before_anything_is_touched(
    topology: RunningTopology, tmp_path: Path
) -> None:
    backup = _backup(topology, tmp_path)
    before = _rows(topology, "neurmatic_production")
    truncated = tmp_path / "neurmatic_20200101_000000.sql.gz"
    truncated.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    garbage = tmp_path / "neurmatic_20200101_000001.sql.gz"
    garbage.write_bytes(b"not a backup at all")
    tampered = tmp_path / "neurmatic_20200101_000002.sql.gz"
    shutil.copy(backup, tampered)
    manifest = backup.with_name(backup.name.replace(".sql.gz", ".manifest.json"))
    shutil.copy(manifest, tampered.with_name("neurmatic_20200101_000002.manifest.json"))
    with gzip.open(tampered, "wb") as handle:  # a valid dump, but not the one the manifest describes
        handle.write(b"SELECT 1;\n-- PostgreSQL database dump complete\n")
    for bad in (truncated, garbage, tampered):
        result = neurmatic("restore", str(bad), "--yes", state_dir=topology.state_dir, check=False)
        assert result.returncode == ExitCode.BACKUP_INVALID, result.stderr
    assert _rows(topology, "neurmatic_production") == before


def test_an_sql_error_mid_restore_fails_and_says_where(topology: RunningTopology, tmp_path: Path) -> None:
    broken = tmp_path / "neurmatic_20200101_000003.sql.gz"
    with gzip.open(broken, "wb") as handle:
        handle.write(
            b"CREATE TABLE fine (id int);\nINSERT INTO fine VALUES (1);\nINSERT INTO missing VALUES (2);\n"
            b"-- PostgreSQL database dump complete\n"
        )
    target = f"broken_{uuid.uuid4().hex[:6]}"
    result = neurmatic("restore", str(broken), "--db", target, state_dir=topology.state_dir, check=False)
    assert result.returncode == ExitCode.RESTORE_FAILED
    assert "line 3" in result.stderr and 'relation "missing" does not exist' in result.stderr
    with topology.superuser() as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{target}%",)
        ).fetchall()
    assert left == []  # neither the target nor the staging copy


def test_a_full_disk_leaves_no_partial_backup_and_the_previous_ones_intact(
    topology: RunningTopology, tmp_path: Path
) -> None:
    neurmatic("seed", "--articles", "300", "--users", "10", state_dir=topology.state_dir)  # > 100 kB of dump
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(small)], check=False, capture_output=True
    )
    if mounted.returncode != 0:
        from tests.support import unavailable

        unavailable(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        earlier = small / "neurmatic_20200101_000000.sql.gz"
        earlier.write_bytes(b"\x1f\x8b" + b"0" * 100)
        result = neurmatic("backup", "--dir", str(small), state_dir=topology.state_dir, check=False)
        assert result.returncode == ExitCode.BACKUP_FAILED and "full" in result.stderr
        assert sorted(p.name for p in small.iterdir()) == [earlier.name]
        assert earlier.read_bytes() == b"\x1f\x8b" + b"0" * 100
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_retention_covers_safety_dumps_and_downloads(topology: RunningTopology, tmp_path: Path) -> None:
    """Safety dumps and copies fetched from S3 hold every row too: pruned with the backups (older than
    BACKUP_RETENTION_DAYS, each directory keeping its newest)."""
    expired, newest_of_dir = "neurmatic_20200101_020000", "neurmatic_20200102_020000"
    for sub in ("safety", "downloads"):
        (tmp_path / sub).mkdir()
        for stem in (expired, newest_of_dir):
            (tmp_path / sub / f"{stem}.sql.gz").write_bytes(b"old")
            (tmp_path / sub / f"{stem}.manifest.json").write_text("{}")
    made = neurmatic("backup", "--dir", str(tmp_path), "--json", state_dir=topology.state_dir)
    pruned = json.loads(made.stdout)["pruned"]
    assert sorted(pruned) == sorted(
        str(tmp_path / sub / f"{expired}.sql.gz") for sub in ("safety", "downloads")
    )
    for sub in ("safety", "downloads"):
        assert sorted(p.name for p in (tmp_path / sub).iterdir()) == [
            f"{newest_of_dir}.manifest.json",
            f"{newest_of_dir}.sql.gz",
        ]
