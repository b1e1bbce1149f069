"""How a reading of the primary's archiver becomes a health status (:mod:`neurmatic.wal_archive`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from neurmatic.health import Status
from neurmatic.wal_archive import BACKLOG_WARN_SEGMENTS, STALL_SECONDS, ArchiverState, assess, segment_number

SEGMENT = 16 * 1024 * 1024
NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def _state(
    *, archived: int = 0x2A, written: float = 0x2B + 0.5, age: float = 10, **changes: object
) -> ArchiverState:
    """Segment ``archived`` archived ``age`` seconds ago; the primary ``written`` segments in (0.5: half
    of the next segment written, so nothing closed waits)."""
    base = ArchiverState(
        mode="on",
        in_recovery=False,
        archived_count=40,
        last_archived_wal=f"00000001{archived // 256:08X}{archived % 256:08X}",
        last_archived_time=NOW - timedelta(seconds=age),
        failed_count=0,
        last_failed_wal=None,
        last_failed_time=None,
        now=NOW,
        wal_bytes=int(written * SEGMENT),
        segment_size=SEGMENT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_segment_numbers_ignore_the_timeline_and_suffixes() -> None:
    assert segment_number("000000010000000100000003", SEGMENT) == 256 + 3
    assert segment_number("000000020000000100000003.partial", SEGMENT) == 256 + 3
    assert segment_number("000000010000000000000002.00000028.backup", SEGMENT) == 2
    assert segment_number("00000002.history", SEGMENT) is None
    assert segment_number(None, SEGMENT) is None


def test_the_segment_being_written_is_not_waiting_but_a_closed_one_is() -> None:
    assert _state(archived=0x2A, written=0x2B + 0.5).pending_segments == 0
    assert _state(archived=0x2A, written=0x2C).pending_segments == 1  # just switched: 0x2B closed
    assert _state(archived=0x2A, written=0x2D + 0.1).pending_segments == 2
    assert _state(archived=0xFF, written=0x100 + 0.5).pending_segments == 0  # across a log boundary
    assert _state(last_archived_wal="00000002.history").pending_segments is None


def test_a_working_archive_is_up_with_its_last_segment_and_age() -> None:
    status, detail = assess(_state(age=42))
    assert status is Status.UP
    assert detail.startswith("last archived 00000001000000000000002A 42 s ago, 0 waiting")


def test_a_failure_newer_than_the_last_success_warns_and_an_older_one_does_not() -> None:
    failed = _state(failed_count=3, last_failed_wal="00000001000000000000002B")
    status, detail = assess(replace(failed, last_failed_time=NOW - timedelta(seconds=5)))
    assert status is Status.DEGRADED and detail.startswith("failing: 3 failure(s), the last on 0000")
    assert assess(replace(failed, last_failed_time=NOW - timedelta(hours=1)))[0] is Status.UP
    never = replace(failed, last_archived_wal=None, last_archived_time=None, last_failed_time=NOW)
    assert assess(never)[0] is Status.DEGRADED


def test_waiting_segments_warn_when_nothing_moves_or_too_many_wait() -> None:
    stuck = _state(archived=0x2A, written=0x2D, age=STALL_SECONDS + 1)  # two closed, nothing for minutes
    assert assess(stuck)[0] is Status.DEGRADED and "not advancing: 2 closed" in assess(stuck)[1]
    # One segment waits for the second it takes to push it after a quiet spell: not a warning.
    assert assess(_state(archived=0x2A, written=0x2C, age=3600))[0] is Status.UP
    # Two waiting while segments still go (a burst of writes): not a warning either.
    assert assess(_state(archived=0x2A, written=0x2D, age=2))[0] is Status.UP
    behind = _state(archived=0x2A, written=0x2A + BACKLOG_WARN_SEGMENTS + 1, age=1)
    assert assess(behind)[0] is Status.DEGRADED and assess(behind)[1].startswith("behind: ")


def test_no_archiving_is_not_a_failure_and_a_standby_is_not_the_archive() -> None:
    assert assess(_state(mode="off"))[0] is Status.NOT_CONFIGURED
    assert assess(_state(in_recovery=True, wal_bytes=None))[0] is Status.DEGRADED
