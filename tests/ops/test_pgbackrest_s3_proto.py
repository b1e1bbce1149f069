"""pgBackRest with a second repository in S3 (moto over TLS), proven end to end on a scratch cluster.

repo1 is a local encrypted posix repository, repo2 an encrypted S3 repository on moto's S3 server behind
TLS (pgBackRest 2.45 speaks only HTTPS to S3). WAL is archived asynchronously to both. The test takes a
full backup into repo2 alone, writes a row, archives its WAL, writes a second row, and restores from
repo2 alone (repo1 moved out of reach first) to a point in time between the two rows: the restored
cluster has the first row and not the second, which proves both the backup and the archived WAL came
back from S3. ``verify`` then checks every backup file and WAL segment in repo2.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from neurmatic.supervisor.state import ServiceAccount
from tests.s3_tls import TlsS3, tls_moto
from tests.support import port_is_free, require_binary

STANZA = "demo"
PG_BIN = Path("/usr/lib/postgresql/15/bin")  # pgBackRest 2.45 supports PostgreSQL up to 15


def _pg_bin(name: str) -> str:
    return require_binary(str(PG_BIN / name))


def _free_port(after: int = 0) -> int:
    start = max(after + 1, 33100 + (os.getpid() % 400) * 2)  # apart from concurrent runs
    return next(p for p in range(start, start + 1000) if port_is_free(p))


@dataclass
class Scratch:
    """A scratch cluster and the pgBackRest configuration that backs it up to repo1 (posix) and repo2 (S3)."""

    root: Path
    s3: TlsS3
    bucket: str
    port: int = field(default_factory=_free_port)
    account: ServiceAccount = field(default_factory=ServiceAccount.for_current_process)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "pgbackrest.conf"

    def as_account(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as the service account when we are root (PostgreSQL refuses root)."""
        return ["runuser", "-u", self.account.name, "--", *argv] if self.account.name else list(argv)

    def run(self, argv: Sequence[str], timeout: float = 120) -> str:
        """Run ``argv`` as the service account; its stdout, or a failure with its output."""
        result = subprocess.run(
            self.as_account(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        assert result.returncode == 0, (
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
        return result.stdout

    def pgbackrest(self, *args: str) -> str:
        return self.run(["pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args])

    def pg_ctl(self, data: Path, port: int, action: str) -> None:
        self.run([_pg_bin("pg_ctl"), "-D", str(data), "-o", f"-p {port}", "-l", str(data / "server.log"),
                  "-w", "-t", "60", "-m", "fast", action])  # fmt: skip

    def connect(self, port: int) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=str(self.root), port=port, user="postgres", dbname="postgres", autocommit=True
        )


def _config(scratch: Scratch) -> str:
    """pgbackrest.conf: the settings under test. It holds the cipher passphrases and the S3 secret."""
    s3, root = scratch.s3, scratch.root
    options: dict[str, dict[str, object]] = {
        "global": {
            "lock-path": root / "lock",
            "log-path": root / "log",
            "log-level-console": "warn",
            "log-level-file": "detail",
            "spool-path": root / "spool",  # archive-async queues WAL here
            "archive-async": "y",
            "compress-type": "zst",
            "start-fast": "y",
            # repo1: a local posix repository, encrypted
            "repo1-path": root / "repo1",
            "repo1-cipher-type": "aes-256-cbc",
            "repo1-cipher-pass": secrets.token_urlsafe(32),
            "repo1-retention-full": "2",
            # repo2: S3 on moto behind TLS, encrypted
            "repo2-type": "s3",
            "repo2-path": "/pgbackrest",
            "repo2-s3-bucket": scratch.bucket,
            "repo2-s3-endpoint": s3.host,
            "repo2-storage-port": s3.port,
            "repo2-s3-region": s3.region,
            "repo2-s3-key": s3.access_key,
            "repo2-s3-key-secret": s3.secret_key,
            "repo2-s3-uri-style": "path",
            "repo2-storage-ca-file": s3.ca_file,
            "repo2-bundle": "y",
            "repo2-cipher-type": "aes-256-cbc",
            "repo2-cipher-pass": secrets.token_urlsafe(32),
            "repo2-retention-full": "2",
        },
        STANZA: {
            "pg1-path": scratch.data,
            "pg1-port": scratch.port,
            "pg1-socket-path": root,
            "pg1-user": "postgres",
        },
    }
    return "".join(
        f"[{section}]\n" + "".join(f"{key}={value}\n" for key, value in values.items()) + "\n"
        for section, values in options.items()
    )


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    require_binary("pgbackrest")
    initdb = _pg_bin("initdb")
    root = Path(tempfile.mkdtemp(prefix="neurmatic-pgbackrest-s3-"))
    root.chmod(0o755)  # the service account walks into it
    try:
        with tls_moto(root / "tls") as s3:
            scratch = Scratch(root, s3, bucket=f"pgbackrest-{uuid.uuid4().hex[:12]}")
            s3.create_bucket(scratch.bucket)
            for sub in ("lock", "log", "spool", "repo1"):
                (root / sub).mkdir()
            scratch.config.write_text(_config(scratch))
            scratch.config.chmod(0o600)
            scratch.account.own(root)
            scratch.run([initdb, "-D", str(scratch.data), "-U", "postgres", "--auth=trust", "--no-sync",
                         "--encoding=UTF8", "--locale=C.UTF-8"])  # fmt: skip
            archive = f"pgbackrest --config={scratch.config} --stanza={STANZA} archive-push %p"
            with (scratch.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
                    f"archive_mode = on\narchive_command = '{archive}'\n"
                    "fsync = off\nshared_buffers = 16MB\n"
                )
            scratch.pg_ctl(scratch.data, scratch.port, "start")
            try:
                yield scratch
            finally:
                for data in (scratch.data, root / "restored"):
                    if (data / "postmaster.pid").exists():
                        stop = [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                        subprocess.run(scratch.as_account(stop), capture_output=True, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_backup_to_s3_and_point_in_time_restore_from_s3_alone(scratch: Scratch) -> None:
    scratch.pgbackrest("stanza-create")
    scratch.pgbackrest("check")  # archives a segment to both repositories and finds it there
    scratch.pgbackrest("--repo=2", "--type=full", "backup")

    with scratch.connect(scratch.port) as db:
        db.execute("CREATE TABLE proof (note text)")
        db.execute("INSERT INTO proof VALUES ('before the target')")
        row = db.execute("SELECT clock_timestamp()::text").fetchone()
        assert row is not None
        target = row[0]
        db.execute("INSERT INTO proof VALUES ('after the target')")
        db.execute("SELECT pg_switch_wal()")
    scratch.pgbackrest("check")  # returns once a fresh segment (after both rows) is in both archives

    [stanza] = json.loads(scratch.pgbackrest("--repo=2", "--output=json", "info"))
    [backup] = stanza["backup"]
    assert backup["type"] == "full" and backup["database"]["repo-key"] == 2, backup
    stored = scratch.s3.client().get_object(Bucket=scratch.bucket, Key="pgbackrest/backup/demo/backup.info")
    assert stored["Body"].read().startswith(b"Salted__")  # repo2's files are encrypted (aes-256-cbc)

    # Stop the source and move repo1 out of reach: whatever the restore reads can only come from S3.
    scratch.pg_ctl(scratch.data, scratch.port, "stop")
    (scratch.root / "repo1").rename(scratch.root / "repo1-hidden")
    restored = scratch.root / "restored"
    restored.mkdir(mode=0o700)
    scratch.account.own(restored)
    scratch.pgbackrest(
        "--repo=2",
        # the backup is named rather than chosen by its stop time, which pgBackRest compares in whole
        # seconds: a target in the same second as the backup's end would find no backup "before" it
        f"--set={backup['label']}",
        f"--pg1-path={restored}",
        "--type=time",
        f"--target={target}",
        "--target-action=promote",
        "--archive-mode=off",  # the restored copy must not archive into the same stanza
        "restore",
    )
    assert "--repo=2" in (restored / "postgresql.auto.conf").read_text()  # WAL is fetched from repo2 too

    port = _free_port(after=scratch.port)
    scratch.pg_ctl(restored, port, "start")
    with scratch.connect(port) as db:
        deadline = time.monotonic() + 30
        while db.execute("SELECT pg_is_in_recovery()").fetchone() != (False,):
            assert time.monotonic() < deadline, "the restored cluster did not reach its target and promote"
            time.sleep(0.1)
        assert [note for (note,) in db.execute("SELECT note FROM proof")] == ["before the target"]

    # Every file of repo2 read back and checked. Four processes: moto's server (werkzeug) lingers 10 ms
    # after each response and verify fetches each bundled file with its own request (some 800 here).
    verified = scratch.pgbackrest("--repo=2", "--process-max=4", "--output=text", "--verbose", "verify")
    assert "status: ok" in verified, verified
    assert re.search(
        r"backup: \S+, status: valid, total files checked: (\d+), total valid files: \1\b", verified
    )
    assert re.search(r"total WAL checked: (\d+), total valid WAL: \1\b", verified), verified
