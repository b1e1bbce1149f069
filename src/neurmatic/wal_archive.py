"""The WAL archive's state as the primary's archiver reports it, for ``neurmatic health``, the API's
``/api/v1/health`` and its metrics alike.

One cheap query on the primary (``pg_stat_archiver`` and the WAL position), readable by any role, so it
works for every deployment, whatever archives its WAL (pgBackRest here). What it can say:

* **failing**: the archiver's last failure is newer than its last success. pgBackRest's asynchronous
  ``archive-push`` reports a failure when the push fails or does not finish within its
  ``archive-timeout`` (60 s by default), so a stuck repository shows here within a minute;
* **not advancing**: closed segments wait (two or more) and nothing was archived for
  :data:`STALL_SECONDS`. The age alone cannot tell an idle database (nothing to archive) from a stuck
  archiver, and one waiting segment is what every segment is for the second it takes to push it after a
  quiet spell: two waiting and nothing archived for minutes is neither;
* **behind**: :data:`BACKLOG_WARN_SEGMENTS` or more closed segments wait, however recently the last one
  went (an archiver slower than the WAL, or an ``archive_command`` that hangs without failing): each is
  WAL a lost host would take with it.

Waiting segments are counted from the WAL position rather than from ``pg_wal/archive_status/*.ready``
(``pg_ls_archive_statusdir()`` needs ``pg_monitor``, which an env file's role may lack). A primary with
``archive_mode=off`` simply has no archive: reported ``not_configured`` (shown, never a failure), since
a deployment's description does not say whether it should archive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neurmatic.health import Status

STALL_SECONDS = 300.0  # five archive_timeouts of ours: a working archiver has pushed several since
BACKLOG_WARN_SEGMENTS = 16  # 256 MiB of 16 MiB segments not yet in the repository

# The WAL position is NULL on a standby (pg_current_wal_lsn() raises there): a client that reached one
# by mistake gets an answer, not an error.
ARCHIVER_QUERY = """
SELECT current_setting('archive_mode'),
       pg_is_in_recovery(),
       a.archived_count, a.last_archived_wal, a.last_archived_time,
       a.failed_count, a.last_failed_wal, a.last_failed_time,
       now(),
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint END,
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')
FROM pg_stat_archiver a
"""

_SEGMENT_NAME = re.compile(r"^[0-9A-F]{24}")  # timeline, log, segment; also .partial and .backup files


@dataclass(frozen=True)
class ArchiverState:
    """One reading of ``pg_stat_archiver`` (counts since its statistics were reset) and the WAL position."""

    mode: str  # archive_mode: off, on, always
    in_recovery: bool
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None
    now: datetime  # the server's clock: ages never depend on this machine's
    wal_bytes: int | None  # WAL written so far (None on a standby)
    segment_size: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ArchiverState:
        mode, recovery, archived, last_wal, last_time, failed, failed_wal, failed_time, now, wal, size = row
        return cls(
            mode=str(mode),
            in_recovery=bool(recovery),
            archived_count=int(archived),
            last_archived_wal=last_wal,
            last_archived_time=last_time,
            failed_count=int(failed),
            last_failed_wal=failed_wal,
            last_failed_time=failed_time,
            now=now,
            wal_bytes=None if wal is None else int(wal),
            segment_size=int(size),
        )

    @property
    def configured(self) -> bool:
        return self.mode != "off"

    @property
    def failing(self) -> bool:
        """The last attempt failed: a failure and no success since."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time

    @property
    def last_success_age(self) -> float | None:
        """Seconds since the last segment was archived (None: none since the statistics were reset)."""
        return _age(self.now, self.last_archived_time)

    @property
    def pending_segments(self) -> int | None:
        """Closed segments not yet archived (None: unknown, e.g. the last archived file is a timeline
        history file). The segment being written is not counted: it is not closed yet."""
        archived = segment_number(self.last_archived_wal, self.segment_size)
        if archived is None or self.wal_bytes is None:
            return None
        last_closed = self.wal_bytes // self.segment_size - 1
        return max(0, last_closed - archived)

    def figures(self) -> dict[str, Any]:
        """The reading as a health component's fields (the API's report, the CLI's summary of it)."""
        return {
            "last_archived_wal": self.last_archived_wal,
            "last_archived_age_seconds": _rounded(self.last_success_age),
            "pending_segments": self.pending_segments,
            "failed_count": self.failed_count,
            "last_failed_wal": self.last_failed_wal,
            "last_failed_age_seconds": _rounded(_age(self.now, self.last_failed_time)),
        }


def segment_number(wal_file: str | None, segment_size: int) -> int | None:
    """The position of ``wal_file`` in the WAL stream, in segments, whatever its timeline (a promoted
    node goes on numbering where the old timeline stopped)."""
    if wal_file is None or not _SEGMENT_NAME.match(wal_file):
        return None
    log, segment = int(wal_file[8:16], 16), int(wal_file[16:24], 16)
    return log * (0x1_0000_0000 // segment_size) + segment


def assess(state: ArchiverState) -> tuple[Status, str]:
    """The archive in the health vocabulary, with a detail an operator acts on."""
    if not state.configured:
        return Status.NOT_CONFIGURED, "archive_mode is off: no WAL archive, recovery reaches the last backup"
    if state.in_recovery:
        return Status.DEGRADED, "asked a standby: the archive's state is the primary's"
    last = _last_success(state)
    if state.failing:
        when = ago(_age(state.now, state.last_failed_time))
        return (
            Status.DEGRADED,
            f"failing: {state.failed_count} failure(s), the last on {state.last_failed_wal} {when} ago; "
            f"{last} (see the primary's log and `pgbackrest check`)",
        )
    pending = state.pending_segments
    if pending is not None and pending >= 2 and (state.last_success_age or 0) > STALL_SECONDS:
        return Status.DEGRADED, f"not advancing: {pending} closed segments wait; {last}"
    if pending is not None and pending >= BACKLOG_WARN_SEGMENTS:
        return Status.DEGRADED, f"behind: {pending} closed segments wait; {last}"
    waiting = "" if pending is None else f", {pending} waiting"
    return Status.UP, f"{last}{waiting}, {state.failed_count} failure(s) since the statistics reset"


def _last_success(state: ArchiverState) -> str:
    if state.last_archived_wal is None:
        return "nothing archived since the statistics reset"
    return f"last archived {state.last_archived_wal} {ago(state.last_success_age)} ago"


def ago(seconds: float | None) -> str:
    """``42 s``, ``7.5 min``, ``3.2 h``: an age as an operator reads it."""
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
