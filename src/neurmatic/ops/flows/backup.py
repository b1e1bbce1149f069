"""``neurmatic backup``: pg_dump → gzip → verified file + manifest, never a partial file left behind.

Row counts come from the same MVCC snapshot the dump uses (``pg_export_snapshot`` + ``pg_dump
--snapshot``), so the manifest describes exactly what is in the file even while the site takes writes.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from neurmatic.adapters.postgres import pg_binary
from neurmatic.errors import NeurmaticError
from neurmatic.ops.flows.backup_files import (
    CHUNK,
    Manifest,
    backup_name,
    check_gzip_dump,
    manifest_path,
    sha256_of,
)
from neurmatic.ops.flows.pg_access import PgTarget, count_rows

Progress = Callable[[int], None]


class BackupFailed(NeurmaticError):
    """The backup could not be made; nothing partial was left behind."""


def _snapshot(target: PgTarget) -> tuple[psycopg.Connection[Any], str, str, dict[str, int]]:
    """An open repeatable-read transaction, its exported snapshot, the server version and row counts."""
    conn = target.connect()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot: the counts and the dump
    conn.read_only = True
    exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
    version = conn.execute("SHOW server_version").fetchone()
    return conn, str(exported[0] if exported else ""), str(version[0] if version else "?"), count_rows(conn)


def create_backup(
    target: PgTarget,
    directory: Path,
    *,
    progress: Progress = lambda _n: None,
    compresslevel: int = 6,
    name: str | None = None,
) -> tuple[Path, Manifest]:
    """Dump ``target`` into ``directory``; the verified backup file and its manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / (name or backup_name())
    partial = final.with_name(f".{final.name}.partial")
    started = time.monotonic()
    conn, snapshot, version, counts = _snapshot(target)
    try:
        _dump(target, snapshot, partial, compresslevel, progress)
        check_gzip_dump(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    manifest = Manifest(
        database=target.dbname,
        server_version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        file=final.name,
        size=partial.stat().st_size,
        sha256=sha256_of(partial),
        duration_seconds=round(time.monotonic() - started, 3),
        tables=counts,
    )
    try:
        manifest.write(manifest_path(final))
        partial.replace(final)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        manifest_path(final).unlink(missing_ok=True)
        raise _as_failure(exc, directory) from exc
    return final, manifest


def _dump(target: PgTarget, snapshot: str, partial: Path, compresslevel: int, progress: Progress) -> None:
    argv = [
        str(pg_binary("pg_dump")),
        "--format=plain",
        "--no-owner",
        "--no-privileges",
        f"--snapshot={snapshot}",
        "-d",
        target.conninfo,
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **target.env}
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with (
            # 0600: a backup holds every row, password hashes included.
            os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0) as zipped,
        ):
            while chunk := proc.stdout.read(CHUNK):
                zipped.write(chunk)
                progress(len(chunk))
            zipped.flush()
            os.fsync(raw.fileno())
    except OSError as exc:
        proc.kill()
        proc.wait()
        raise _as_failure(exc, partial.parent) from exc
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise BackupFailed(f"pg_dump failed: {stderr.strip()[-500:] or 'exit ' + str(proc.returncode)}")


def _as_failure(exc: OSError, directory: Path) -> BackupFailed:
    if exc.errno == errno.ENOSPC:
        return BackupFailed(
            f"the disk holding {directory} is full; the partial backup was removed",
            hint="free space or choose another --dir; earlier backups are untouched",
        )
    return BackupFailed(f"cannot write the backup in {directory}: {exc.strerror}")
