"""The fast backup format for large databases: pg_dump's directory format with parallel jobs, packed.

pg_dump ``-Fd -j N`` dumps tables in parallel into a directory; pg_restore ``-j N`` loads them and builds
their indexes in parallel. PostgreSQL 15's pg_dump only compresses with gzip, so for zstd and lz4 the
directory is dumped uncompressed and packed as one tar stream through the multi-threaded ``zstd -T0``
(or ``lz4``). ``gzip`` keeps pg_dump's own per-file compression and a plain tar. One file per backup
keeps listing, checksums, retention and S3 the same as for the plain format.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from neurmatic.adapters.pg_target import PgTarget
from neurmatic.adapters.postgres import pg_binary
from neurmatic.errors import MissingBinaryError
from neurmatic.ops.flows.backups.errors import ArchiveError, BackupInvalid
from neurmatic.ops.flows.backups.files import ARCHIVE_SUFFIXES, backup_suffix

Progress = Callable[[int], None]
ARCHIVE_ROOT = "dump"  # the directory's name inside the tar
COMPRESS_LEVEL = {"zstd": "-3", "lz4": "-1"}
_PG_RESTORE_ERROR = re.compile(r"error: (?:could not execute query: )?(.*)")
_COMMAND_WAS = re.compile(r"Command was: (.*)")


def compression_of(path: Path) -> str:
    suffix = backup_suffix(path.name)
    return next(name for name, known in ARCHIVE_SUFFIXES.items() if known == suffix)


def _compressor(compress: str) -> list[str] | None:
    if compress == "gzip":
        return None
    binary = shutil.which(compress)
    if binary is None:
        raise MissingBinaryError(
            f"{compress} is not installed", hint=f"apt-get install {compress}, or use --compress gzip"
        )
    threads = ["-T0"] if compress == "zstd" else []
    return [binary, "-q", COMPRESS_LEVEL[compress], *threads, "-c"]


def _decompressor(compress: str) -> list[str] | None:
    if compress == "gzip":
        return None
    binary = shutil.which(compress)
    if binary is None:
        raise MissingBinaryError(f"{compress} is not installed", hint=f"apt-get install {compress}")
    return [binary, "-q", "-d", "-c"]


def dump_directory(
    target: PgTarget, snapshot: str, directory: Path, *, jobs: int, compress: str, progress: Progress
) -> None:
    """``pg_dump -Fd -j jobs`` of ``target`` as of ``snapshot`` into ``directory`` (which must not exist)."""
    argv = [
        str(pg_binary("pg_dump")),
        "--format=directory",
        f"--jobs={jobs}",
        f"--compress={6 if compress == 'gzip' else 0}",
        "--no-owner",
        "--no-privileges",
        f"--snapshot={snapshot}",
        "-f",
        str(directory),
        "-d",
        target.conninfo,
    ]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env={**os.environ, **target.env})
    reported = 0
    while True:
        try:
            proc.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            size = _tree_size(directory)
            progress(max(0, size - reported))
            reported = max(reported, size)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise ArchiveError(f"pg_dump failed: {stderr[-500:] or 'exit ' + str(proc.returncode)}")


def _tree_size(directory: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                total += entry.stat().st_size
    return total


def list_contents(directory: Path) -> int:
    """``pg_restore --list``: the table of contents must read; the number of entries it holds."""
    result = subprocess.run(
        [str(pg_binary("pg_restore")), "--list", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupInvalid(f"pg_restore cannot read the dump's table of contents: {result.stderr.strip()}")
    return sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))


def pack(directory: Path, output: IO[bytes], compress: str) -> None:
    """Write ``directory`` as one tar stream into ``output``, through the compressor when there is one."""
    argv = _compressor(compress)
    if argv is None:
        with tarfile.open(fileobj=output, mode="w|") as tar:
            tar.add(directory, arcname=ARCHIVE_ROOT)
        return
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
            tar.add(directory, arcname=ARCHIVE_ROOT)
    except BrokenPipeError:
        pass  # the compressor stopped (a full disk); its message follows
    finally:
        proc.stdin.close()
    stderr = proc.stderr.read().decode(errors="replace").strip()
    if proc.wait() != 0:
        raise OSError(28 if "space" in stderr.lower() else 5, f"{compress} failed: {stderr[-300:]}")


@contextlib.contextmanager
def _archive_stream(path: Path, compress: str | None = None) -> Iterator[IO[bytes]]:
    """The archive's tar bytes: the file itself, or the decompressor's output."""
    argv = _decompressor(compress or compression_of(path))
    if argv is None:
        with path.open("rb") as handle:
            yield handle
        return
    with path.open("rb") as source:
        proc = subprocess.Popen(argv, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            yield proc.stdout
            proc.stdout.read()  # drain: the decompressor checks the frame's checksum at the end
        finally:
            proc.stdout.close()
            code = proc.wait()
            reader.join()
        if code != 0:
            raise BackupInvalid(
                f"{path.name} does not decompress: {b''.join(errors).decode(errors='replace').strip()}",
                hint="it was truncated or damaged; use an older backup",
            )


def check_archive(path: Path, compress: str | None = None) -> None:
    """Every member decompresses and reads to its end, and pg_dump's table of contents is there."""
    names: set[str] = set()
    try:
        with _archive_stream(path, compress) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                names.add(member.name)
                extracted = tar.extractfile(member)
                if extracted is not None:
                    while extracted.read(1024 * 1024):
                        pass
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupInvalid(
            f"{path.name} is not an intact backup archive: {exc}",
            hint="it was truncated or damaged; use an older backup",
        ) from exc
    if f"{ARCHIVE_ROOT}/toc.dat" not in names:
        raise BackupInvalid(f"{path.name} holds no pg_dump table of contents (toc.dat)")


def _refuse_unsafe(member: tarfile.TarInfo) -> None:
    """Only plain files and directories under the dump's own root (Python 3.11 lacks tar filters)."""
    parts = Path(member.name).parts
    if not (member.isfile() or member.isdir()) or not parts or parts[0] != ARCHIVE_ROOT or ".." in parts:
        raise BackupInvalid(f"the archive holds an unexpected entry {member.name!r}; refusing to unpack it")


def unpack(path: Path, into: Path) -> Path:
    """Extract the archive into ``into``; the dump directory (checked with ``pg_restore --list``)."""
    into.mkdir(parents=True, exist_ok=False, mode=0o700)
    try:
        with _archive_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                _refuse_unsafe(member)
                tar.extract(member, into, set_attrs=False)
    except (tarfile.TarError, OSError) as exc:
        raise BackupInvalid(f"{path.name} cannot be unpacked: {exc}") from exc
    directory = into / ARCHIVE_ROOT
    list_contents(directory)
    return directory


def restore_directory(directory: Path, target: PgTarget, role: str, jobs: int) -> None:
    """``pg_restore -j jobs`` into ``target``: stop at the first error and say which statement failed."""
    argv = [
        str(pg_binary("pg_restore")),
        f"--jobs={jobs}",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--role={role}",
        "-d",
        target.conninfo,
        str(directory),
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **target.env}, check=False
    )
    if result.returncode == 0:
        return
    error = _PG_RESTORE_ERROR.search(result.stderr)
    command = _COMMAND_WAS.search(result.stderr)
    where = f" in: {command.group(1).strip()[:200]}" if command else ""
    raise ArchiveError(
        f"pg_restore stopped at the first error: {(error.group(1) if error else result.stderr).strip()}"
        f"{where}; nothing was changed",
        hint="the backup holds SQL this server refuses; fix it or use another backup",
    )
