from __future__ import annotations

from datetime import timedelta

import pytest

from neurmatic.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("900", timedelta(seconds=900)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_operator_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_garbage_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="15m, 30d"):
        parse_duration("soon")
