"""Size-based log rotation for the local topology, done by the watcher: copy, then truncate.

Every server writes its log through a descriptor opened with ``O_APPEND`` (the supervisor hands each
child ``logs/<name>.log`` opened that way; nginx opens its access and error logs so too), so truncating
the file under a running server is safe: its next write lands at the new end, not at its old offset, and
no server is restarted or signalled. A log over ``LOG_MAX_BYTES`` is copied to ``.1`` (``.1`` → ``.2`` …
up to ``LOG_KEEP``; the oldest is dropped) and cut to nothing. The copy reads until the end it finds,
then truncates at once, so only what is written between that last read and the truncate is lost: the
window of logrotate's ``copytruncate``, a few microseconds unless the watcher is descheduled right there.
Servers here log a few lines a second, so a loss is rare; a lossless way would need each server to reopen
its log (a signal nginx understands, but a child's inherited stdout cannot be reopened).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

LOG_MAX_BYTES = 20 * 1024**2
LOG_KEEP = 5
_CHUNK = 1024**2


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
        with partial.open("wb") as copy:
            while chunk := os.read(source, _CHUNK):  # also what the server appends meanwhile
                copy.write(chunk)
            os.ftruncate(source, 0)  # at once: unbuffered, nothing between the last read and the cut
        owner = os.fstat(source)
    finally:
        os.close(source)
    with contextlib.suppress(OSError):  # as root: the copy stays readable by the server's user
        os.chown(partial, owner.st_uid, owner.st_gid)
    partial.replace(numbered(path, 1))
    return True


def rotate_all(paths: Iterable[Path], *, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> list[Path]:
    """Rotate each of ``paths`` that is over the limit; the rotated ones."""
    return [path for path in paths if rotate(path, max_bytes=max_bytes, keep=keep)]
