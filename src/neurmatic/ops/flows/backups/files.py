"""Backup files and their manifests: names, checksums, and the checks that say a file is a backup.

A backup is ``neurmatic_YYYYMMDD_HHMMSS.sql.gz`` (the operators' name, a plain SQL dump) or, for large
databases, ``….dir.tar.zst`` / ``.dir.tar.lz4`` / ``.dir.tar`` (pg_dump's directory format, dumped and
restored with parallel jobs, packed into one file), with ``….manifest.json`` beside it. Both are
written under temporary names and renamed only when complete and verified, so a partial file never
looks like a backup.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from neurmatic.ops.flows.backups.errors import BackupInvalid

PREFIX = "neurmatic_"
SUFFIX = ".sql.gz"  # the default, plain format
ARCHIVE_SUFFIXES = {"zstd": ".dir.tar.zst", "lz4": ".dir.tar.lz4", "gzip": ".dir.tar"}
BACKUP_SUFFIXES = (SUFFIX, *ARCHIVE_SUFFIXES.values())
MANIFEST_SUFFIX = ".manifest.json"
DUMP_TRAILER = b"-- PostgreSQL database dump complete"
CHUNK = 1024 * 1024


@dataclass
class Manifest:
    database: str
    server_version: str
    created_at: str
    file: str
    size: int
    sha256: str
    duration_seconds: float
    tables: dict[str, int] = field(default_factory=dict)  # row counts, in the dump's own snapshot
    format: str = "plain-gzip"  # or directory-zstd, directory-lz4, directory-gzip
    checksums: dict[str, str] = field(default_factory=dict)  # per-table content checksums, same snapshot
    jobs: int = 1
    tool: str = "neurmatic"

    def write(self, path: Path) -> None:
        write_atomically(path, (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode())

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise BackupInvalid(f"the manifest {path} cannot be read: {exc}") from exc


def backup_name(moment: datetime | None = None, suffix: str = SUFFIX) -> str:
    return f"{PREFIX}{(moment or datetime.now(UTC)).strftime('%Y%m%d_%H%M%S')}{suffix}"


def backup_suffix(name: str) -> str | None:
    """The backup suffix ``name`` ends with (the longest, so ``.dir.tar.zst`` beats ``.tar``), if any."""
    matching = [suffix for suffix in BACKUP_SUFFIXES if name.endswith(suffix)]
    return max(matching, key=len) if matching and name.rsplit("/", 1)[-1].startswith(PREFIX) else None


def is_archive(path: Path) -> bool:
    """A directory-format backup (restored with pg_restore), as opposed to a plain SQL dump."""
    return backup_suffix(path.name) in ARCHIVE_SUFFIXES.values()


def manifest_name(name: str) -> str:
    """``neurmatic_….manifest.json`` for a backup name or S3 key (the same prefix path is kept)."""
    return name.removesuffix(backup_suffix(name) or "") + MANIFEST_SUFFIX


def manifest_path(backup: Path) -> Path:
    return backup.with_name(manifest_name(backup.name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# psql runs these meta-commands in a plain dump; pg_dump writes only these (the rest, such as ``\!``,
# would run a shell command on this machine when the dump is restored: refused before psql sees it).
_DUMP_META_COMMANDS = (b"\\connect ", b"\\restrict ", b"\\unrestrict ")


class _MetaCommandScan:
    """Line by line over a plain dump: a psql meta-command outside COPY data that pg_dump never writes."""

    def __init__(self, name: str) -> None:
        self.name, self.line, self.in_copy, self.rest = name, 0, False, b""

    def feed(self, chunk: bytes) -> None:
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            self.line += 1
            if self.in_copy:
                self.in_copy = line != b"\\."
            elif line.startswith(b"COPY ") and line.endswith(b"FROM stdin;"):
                self.in_copy = True
            elif line.startswith(b"\\") and not line.startswith(_DUMP_META_COMMANDS):
                raise BackupInvalid(
                    f"{self.name} holds a psql command pg_dump never writes (line {self.line}: "
                    f"{line[:20].decode(errors='replace')}…); it would run on this machine",
                    hint="refused: restore only dumps pg_dump made; use another backup",
                )


def check_gzip_dump(path: Path) -> None:
    """The whole file decompresses, holds no psql command pg_dump would not write, and ends with
    pg_dump's completion line (a truncated dump does not)."""
    tail = b""
    scan = _MetaCommandScan(path.name)
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                scan.feed(chunk)
                tail = (tail + chunk)[-4096:]
    except (OSError, EOFError, zlib.error) as exc:
        raise BackupInvalid(
            f"{path.name} is not an intact gzip file: {exc}",
            hint="it was truncated or damaged; use an older backup",
        ) from exc
    if DUMP_TRAILER not in tail:
        raise BackupInvalid(
            f"{path.name} is incomplete: pg_dump's completion line is missing",
            hint="the dump was cut short; use an older backup",
        )


def verify_backup(path: Path) -> Manifest | None:
    """Refuse anything that is not an intact backup; its manifest (checked against the file) if any.

    With a manifest, the SHA-256 decides: it was taken of this very file after the file passed the full
    check at backup time, so equal bytes need no second decompression pass (which costs as much as a
    restore's reading on a large backup). Without one, the file is checked through to its end.
    """
    if not path.is_file():
        raise BackupInvalid(f"{path} does not exist")
    manifest_file = manifest_path(path)
    if not manifest_file.exists():
        check_contents(path)
        return None
    manifest = Manifest.read(manifest_file)
    if manifest.size != path.stat().st_size or manifest.sha256 != sha256_of(path):
        raise BackupInvalid(
            f"{path.name} does not match its manifest (checksum or size differ)",
            hint="the file changed after it was written (truncated or damaged); use another backup",
        )
    return manifest


def check_contents(path: Path) -> None:
    """The full structural check: every byte decompresses and the dump is complete."""
    if is_archive(path):
        from neurmatic.ops.flows.backups.archive import check_archive

        check_archive(path)
    else:
        check_gzip_dump(path)


def private_file(path: Path) -> BinaryIO:
    """A new file only its owner may read (0600: a backup holds every row, password hashes included).
    A leftover of an interrupted run is replaced, never reopened with whatever mode it had."""
    path.unlink(missing_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def partial_path(path: Path) -> Path:
    """Where ``path`` is written until it is complete: a dot-file, which no listing takes for a backup."""
    return path.with_name(f".{path.name}.partial")


def write_atomically(path: Path, data: bytes) -> None:
    tmp = partial_path(path)
    with private_file(tmp) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def local_backups(directory: Path) -> list[Path]:
    """Complete backups in ``directory``, newest first (partial files are dot-files and never listed)."""
    if not directory.is_dir():
        return []
    found = (p for p in directory.glob(f"{PREFIX}*") if p.is_file() and backup_suffix(p.name))
    return sorted(found, key=lambda p: p.name, reverse=True)
