"""The pure parts of deploys: the expand-only schema rule, release pruning and rollback targets, the
error-rate verdict on nginx's access log, and the one-line start failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neurmatic.db.schema_guard import Column, Schema, contract_changes
from neurmatic.deployment.releases import DeployFailed
from neurmatic.errors import ServiceStartError
from neurmatic.ops.flows.releases.history import ReleaseHistory, ReleaseRecord, check_version
from neurmatic.ops.flows.releases.rollback import choose_target
from neurmatic.ops.flows.releases.rolling import start_failure
from neurmatic.ops.flows.releases.traffic import AccessLog, Tally, error_rate_exceeded, tally
from neurmatic.supervisor.release_build import unsatisfied_dependencies

BASE: Schema = {
    "public.articles": {
        "id": Column("uuid", nullable=False),
        "title": Column("character varying", length=200, nullable=False),
        "summary": Column("character varying", length=500),
        "views": Column("integer", precision=32, nullable=False, has_default=True),
        "price": Column("numeric", precision=10, scale=2),
    },
    "public.tags": {"name": Column("text", nullable=False)},
}


def _with(table: str, column: str, value: Column | None) -> Schema:
    changed = {name: dict(columns) for name, columns in BASE.items()}
    if value is None:
        del changed[table][column]
    else:
        changed[table][column] = value
    return changed


@pytest.mark.parametrize(
    ("table", "column", "after"),
    [
        ("public.articles", "note", Column("text")),  # a new nullable column
        ("public.articles", "flag", Column("boolean", nullable=False, has_default=True)),  # with a default
        ("public.articles", "title", Column("character varying", length=300, nullable=False)),  # longer
        ("public.articles", "summary", Column("text")),  # varchar -> text
        ("public.articles", "views", Column("bigint", precision=64, nullable=False, has_default=True)),
        ("public.articles", "price", Column("numeric", precision=12, scale=3)),  # more digits both sides
        ("public.articles", "title", Column("character varying", length=200, nullable=True)),  # relaxed
    ],
)
def test_expansions_pass(table: str, column: str, after: Column) -> None:
    assert contract_changes(BASE, _with(table, column, after)) == []


def test_a_new_table_passes() -> None:
    assert contract_changes(BASE, {**BASE, "public.jobs": {"id": Column("uuid", nullable=False)}}) == []


@pytest.mark.parametrize(
    ("table", "column", "after", "problem"),
    [
        ("public.articles", "summary", None, "column public.articles.summary was dropped (or renamed)"),
        (
            "public.articles",
            "title",
            Column("character varying", length=100, nullable=False),
            "column public.articles.title was narrowed: character varying(200) NOT NULL -> "
            "character varying(100) NOT NULL",
        ),
        (
            "public.articles",
            "summary",
            Column("character varying", length=500, nullable=False),
            "became NOT NULL",
        ),
        (
            "public.articles",
            "views",
            Column("smallint", precision=16, nullable=False, has_default=True),
            "narrowed",
        ),
        ("public.articles", "price", Column("numeric", precision=10, scale=4), "narrowed"),
        ("public.articles", "summary", Column("jsonb"), "narrowed"),
        ("public.articles", "author_id", Column("uuid", nullable=False), "NOT NULL without a default"),
    ],
)
def test_contractions_are_named(table: str, column: str, after: Column | None, problem: str) -> None:
    problems = contract_changes(BASE, _with(table, column, after))
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_dropped_table_is_named() -> None:
    after = {"public.articles": BASE["public.articles"]}
    assert contract_changes(BASE, after) == ["table public.tags was dropped (or renamed)"]


def _record(version: str, minute: int, replaced: str | None = None, **kwargs: Any) -> ReleaseRecord:
    return ReleaseRecord(
        version, "c0ffee", "repo", f"2026-01-01T00:{minute:02d}:00+00:00", replaced=replaced, **kwargs
    )


def test_pruning_keeps_the_newest_five_and_never_current_or_previous() -> None:
    records = [_record(f"v{i}", i, replaced=f"v{i - 1}" if i > 1 else None) for i in range(1, 9)]
    history = ReleaseHistory(current="v2", records=records)  # rolled back far: v2 runs, v1 is its previous
    assert history.previous == "v1"
    assert history.to_prune() == ["v3"]  # v8..v4 are the newest five; v2, v1 are protected
    records[-1].pruned = True
    assert history.to_prune() == []  # a pruned release no longer counts


def test_rollback_targets_and_the_backup_that_goes_with_them() -> None:
    history = ReleaseHistory(
        current="v3",
        records=[
            _record("v1", 1, status="deployed", backup="/b/1", deployed_at="2026-01-01T00:01:30+00:00"),
            _record("v2", 2, replaced="v1", status="failed", backup="/b/2"),
            _record(
                "v3", 3, replaced="v1", status="deployed", backup="/b/3", deployed_at="2026-01-01T00:03:30"
            ),
        ],
    )
    assert choose_target(history, None) == "v1"
    assert choose_target(history, "v2") == "v2"
    backup = history.backup_before_leaving("v1")
    assert (
        backup is not None and backup.backup == "/b/3"
    )  # the deploy that left v1 for good, not the failed one
    with pytest.raises(DeployFailed, match="current release already"):
        choose_target(history, "v3")
    with pytest.raises(DeployFailed, match="nothing to roll back"):
        choose_target(ReleaseHistory(), None)


def test_history_round_trips_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    history = ReleaseHistory(
        current="v1", records=[_record("v1", 1, status="deployed", durations={"total": 2.5})]
    )
    history.save(path)
    loaded = ReleaseHistory.load(path)
    assert loaded == history and path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("version", ["v1", "1.4.2", "2026-06-01.1", "v2+build.7"])
def test_version_names_that_work(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize("version", ["", "../etc", "v 1", ".hidden", "a/b", "x" * 65])
def test_version_names_that_could_escape_or_break_a_path(version: str) -> None:
    with pytest.raises(DeployFailed):
        check_version(version)


UPSTREAM = "127.0.0.1:18301"


def _entry(status: int, upstream: str) -> str:
    """A line in the topology's access-log format."""
    return (
        f'127.0.0.1 - - [x] "GET /api/v1/articles HTTP/1.1" {status} 12 "-" "ua" id=1 rt=0.1 uct=0 uht=0 '
        f"urt=0 upstream={upstream} cache=-"
    )


LOG = [
    _entry(200, UPSTREAM),
    _entry(502, UPSTREAM),
    _entry(200, f"{UPSTREAM}, 127.0.0.1:18302"),  # nginx gave up on it and asked the other: its error
    _entry(500, "127.0.0.1:18302"),
    "a line in another format",
]


def test_tally_counts_what_reached_the_instance_and_what_failed_there() -> None:
    assert tally(LOG, UPSTREAM) == Tally(total=3, errors=2)
    assert tally(LOG, "127.0.0.1:18302") == Tally(total=2, errors=1)


@pytest.mark.parametrize(
    ("seen", "exceeded"),
    [
        (Tally(0, 0), False),
        (Tally(3, 1), False),
        (Tally(3, 2), True),
        (Tally(100, 10), False),
        (Tally(100, 11), True),
    ],
)
def test_the_error_rate_verdict_uses_the_guides_ten_percent(seen: Tally, exceeded: bool) -> None:
    assert error_rate_exceeded(seen) is exceeded


def test_the_access_log_is_read_from_an_offset_and_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("one\ntwo\n")
    log = AccessLog(path)
    offset = log.offset()
    with path.open("a") as handle:
        handle.write("three\n")
    assert log.lines_since(offset) == ["three"]
    path.write_text("new\n")  # rotated: shorter than the offset
    assert log.lines_since(offset) == ["new"]
    assert AccessLog(tmp_path / "missing").lines_since(0) == []


def test_a_start_failure_is_one_line_with_the_logs_last_error() -> None:
    tail = '{"level": "info"}\nunexpected error: RuntimeError: boom\n  → run again'
    failure = ServiceStartError(f"backend-1 exited during start-up:\n{tail}")
    assert start_failure(failure) == "backend-1 exited during start-up (unexpected error: RuntimeError: boom)"


def test_only_dependencies_the_installed_environment_does_not_satisfy_are_to_install(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    declared = [
        "click>=1",  # installed, in range
        "psutil[test]>=5.9",  # installed (extras do not matter here)
        "click>=999",  # installed, out of range
        "no-such-package-anywhere>=1",  # not installed
        "psutil>=999; python_version < '3'",  # not for this interpreter
    ]
    pyproject.write_text(f"[project]\nname = 'x'\ndependencies = {declared!r}\n")
    assert unsatisfied_dependencies(pyproject) == ["click>=999", "no-such-package-anywhere>=1"]
    assert unsatisfied_dependencies(tmp_path / "absent.toml") == []  # a bare source tree declares nothing
    pyproject.write_text("[project]\ndependencies = ['not a requirement !']\n")
    with pytest.raises(DeployFailed, match="invalid dependency"):
        unsatisfied_dependencies(pyproject)


@pytest.mark.parametrize("count", [1, 10])
def test_a_count_outside_the_platforms_range_is_clicks_usage_error(count: int) -> None:
    import click

    from neurmatic.ops.commands.deploy import _check_within, scale_api_command

    with click.Context(scale_api_command), pytest.raises(click.BadParameter) as raised:
        _check_within(count, 9)
    assert raised.value.format_message() == f"Invalid value for 'COUNT': {count} is not in the range 2<=x<=9."
    with click.Context(scale_api_command):
        _check_within(9, 9)
