"""Size-based log rotation for the local topology, done by the watcher, without restarting anything.

Every server writes its log through a descriptor opened with ``O_APPEND`` (the supervisor hands each
child ``logs/<name>.log`` opened that way; nginx opens its access and error logs so too), so its next
write always lands at the file's current end. A log over ``LOG_MAX_BYTES`` is rotated: ``.1`` → ``.2`` …
up to ``LOG_KEEP`` (the oldest is dropped), then the log's bytes go to a new ``.1`` and leave the log.

Lossless where the filesystem can (ext4, XFS): the whole blocks at the start of the log are copied, then
removed from it with ``fallocate(FALLOC_FL_COLLAPSE_RANGE)``, which the kernel does under the inode's
lock, so a line appended meanwhile stays (after the cut, with the partial block before it). Elsewhere
(tmpfs, overlayfs) it falls back to logrotate's ``copytruncate``: copy to the end, truncate at once, and
a line written between that last read and the truncate (a few microseconds) is lost. A child's inherited
stdout cannot be reopened, so the classic rename-and-reopen is not available.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterable
from pathlib import Path

LOG_MAX_BYTES = 20 * 1024**2
LOG_KEEP = 5
_CHUNK = 1024**2
_FALLOC_FL_COLLAPSE_RANGE = 0x08  # linux/falloc.h


def _collapse_start(fd: int, length: int) -> bool:
    """Remove the first ``length`` bytes of the file (a multiple of its block size, short of its end)
    atomically; False when the filesystem (or the platform) cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return False
    fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong)
    if fallocate(fd, _FALLOC_FL_COLLAPSE_RANGE, 0, length) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code))


def _copy(source: int, copy: int, length: int | None) -> None:
    """Copy from ``source``'s start: ``length`` bytes, or all of it to the end (None)."""
    os.lseek(source, 0, os.SEEK_SET)
    left = length
    while left is None or left > 0:
        chunk = os.read(source, _CHUNK if left is None else min(_CHUNK, left))
        if not chunk:
            return
        os.write(copy, chunk)
        if left is not None:
            left -= len(chunk)


def numbered(path: Path, index: int) -> Path:
    """``access.log`` → ``access.log.<index>``."""
    return path.with_name(f"{path.name}.{index}")


def rotate(path: Path, *, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> bool:
    """Rotate ``path`` when it is larger than ``max_bytes``; True when it did."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for index in range(keep - 1, 0, -1):  # .4 → .5 replaces (drops) the oldest, then .3 → .4 …
        older = numbered(path, index)
        if older.exists():
            older.replace(numbered(path, index + 1))
    partial = path.with_name(f"{path.name}.rotating")
    source = os.open(path, os.O_RDWR)
    try:
        owner = os.fstat(source)
        # Whole blocks only, and never up to the end (the kernel's conditions for collapsing a range).
        whole = (owner.st_size - 1) // owner.st_blksize * owner.st_blksize
        copy = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _copy(source, copy, whole)
            if whole == 0 or not _collapse_start(source, whole):
                os.ftruncate(copy, 0)
                os.lseek(copy, 0, os.SEEK_SET)
                _copy(source, copy, None)  # the fallback: also what the server appends meanwhile
                os.ftruncate(source, 0)  # at once: unbuffered, nothing between the last read and the cut
        finally:
            os.close(copy)
    finally:
        os.close(source)
    with contextlib.suppress(OSError):  # as root: the copy stays readable by the server's user
        os.chown(partial, owner.st_uid, owner.st_gid)
    partial.replace(numbered(path, 1))
    return True


def rotate_all(paths: Iterable[Path], *, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> list[Path]:
    """Rotate each of ``paths`` that is over the limit; the rotated ones."""
    return [path for path in paths if rotate(path, max_bytes=max_bytes, keep=keep)]
