"""``neurmatic backup``: pg_dump → verified file + manifest, never a partial file left behind.

Row counts and per-table checksums come from the same MVCC snapshot the dump uses
(``pg_export_snapshot`` + ``pg_dump --snapshot``), so the manifest describes exactly what is in the file
even while the site takes writes.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.postgres import pg_binary
from neurmatic.ops.flows.backups.archive import (
    check_archive,
    dump_directory,
    list_contents,
    pack,
)
from neurmatic.ops.flows.backups.errors import ArchiveError, BackupFailed
from neurmatic.ops.flows.backups.files import (
    ARCHIVE_SUFFIXES,
    CHUNK,
    SUFFIX,
    Manifest,
    backup_name,
    check_gzip_dump,
    manifest_path,
    partial_path,
    private_file,
    sha256_of,
)
from neurmatic.ops.flows.pg_access import table_fingerprints

Progress = Callable[[int], None]


def _snapshot(target: PgTarget) -> tuple[psycopg.Connection[Any], str, str]:
    """An open repeatable-read transaction, its exported snapshot and the server version."""
    conn = target.connect()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot: the checks and the dump
    conn.read_only = True
    exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
    version = conn.execute("SHOW server_version").fetchone()
    return conn, str(exported[0] if exported else ""), str(version[0] if version else "?")


@dataclass(frozen=True)
class BackupOptions:
    """``plain`` (the operators' .sql.gz) or ``directory`` (parallel pg_dump, zstd/lz4/gzip, one file)."""

    format: str = "plain"
    compress: str = "zstd"  # directory format only
    jobs: int = 2  # directory format only
    compresslevel: int = 6  # plain format only

    @property
    def suffix(self) -> str:
        return SUFFIX if self.format == "plain" else ARCHIVE_SUFFIXES[self.compress]

    @property
    def label(self) -> str:
        return "plain-gzip" if self.format == "plain" else f"directory-{self.compress}"


def create_backup(
    target: PgTarget,
    directory: Path,
    *,
    progress: Progress = lambda _n: None,
    options: BackupOptions = BackupOptions(),
    name: str | None = None,
) -> tuple[Path, Manifest]:
    """Dump ``target`` into ``directory``; the verified backup file and its manifest.

    The per-table counts and checksums are computed on the snapshot's own connection while pg_dump
    streams, so on two cores the checks cost little extra wall time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / (name or backup_name(suffix=options.suffix))
    partial = partial_path(final)
    started = time.monotonic()
    try:
        target = target.pinned()
        conn, snapshot, version = _snapshot(target)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupFailed(
            f"cannot reach {target.dbname} to back it up: {reason}",
            hint="is PostgreSQL running and reachable where DATABASE_URL says? (`neurmatic health`)",
        ) from exc
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            fingerprints = pool.submit(table_fingerprints, conn)
            try:
                _write(target, snapshot, partial, options, progress)
            finally:
                tables = fingerprints.result()
        _check(partial, options)
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
        tables={name: rows for name, (rows, _) in tables.items()},
        checksums={name: checksum for name, (_, checksum) in tables.items()},
        format=options.label,
        jobs=options.jobs if options.format == "directory" else 1,
    )
    try:
        manifest.write(manifest_path(final))
        partial.replace(final)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        manifest_path(final).unlink(missing_ok=True)
        raise _as_failure(exc, directory) from exc
    return final, manifest


def _write(
    target: PgTarget, snapshot: str, partial: Path, options: BackupOptions, progress: Progress
) -> None:
    if options.format == "plain":
        _dump(target, snapshot, partial, options.compresslevel, progress)
        return
    workdir = partial.with_name(partial.name + ".d")
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        dump_directory(
            target, snapshot, workdir, jobs=options.jobs, compress=options.compress, progress=progress
        )
        list_contents(workdir)
        with private_file(partial) as raw:
            pack(workdir, raw, options.compress)
            raw.flush()
            os.fsync(raw.fileno())
    except OSError as exc:
        raise _as_failure(exc, partial.parent) from exc
    except ArchiveError as exc:
        if "space" in exc.message.lower():
            raise _as_failure(OSError(errno.ENOSPC, "full"), partial.parent) from exc
        raise BackupFailed(exc.message, hint=exc.hint) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check(partial: Path, options: BackupOptions) -> None:
    """The same checks a restore makes, on the partial file, before it may take the backup's name."""
    if options.format == "plain":
        check_gzip_dump(partial)
    else:
        check_archive(partial, compress=options.compress)


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
            private_file(partial) as raw,
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
