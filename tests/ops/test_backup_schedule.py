"""``neurmatic backup schedule``: installed once however often it runs, shown, and removable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.backups.schedule import cron_reads_cron_tz
from tests.support import neurmatic, require_binary


def _schedule(state_dir: Path, *args: str, tz: str = "UTC") -> dict[str, Any]:
    out = neurmatic("backup", "schedule", "--json", *args, state_dir=state_dir, env={"TZ": tz})
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_crontab_entry_is_idempotent_and_removable(tmp_path: Path) -> None:
    require_binary("crontab")
    state_dir = tmp_path / "state"
    before = _crontab()
    try:
        installed = _schedule(state_dir, "--method", "cron", "--verify")
        zone, entry = str(installed["entry"]).splitlines()
        # The run is at 02:00 UTC, and the entry says so to cron (the clock here is UTC: any cron agrees).
        assert zone == "CRON_TZ=UTC" and entry.startswith("0 2 * * * ") and "backup.sh --verify" in entry
        assert f"NEURMATIC_STATE_DIR={state_dir}" in entry
        _schedule(state_dir, "--method", "cron", "--verify")
        table = _crontab()
        assert [line for line in table if str(state_dir) in line] == [entry]
        assert table[table.index(entry) - 1] == "CRON_TZ=UTC"
        assert table.count("CRON_TZ=UTC") == before.count("CRON_TZ=UTC") + 1  # installed once, however often
        _schedule(state_dir, "--method", "cron", "--remove")
        assert _crontab() == before
    finally:  # this user's real crontab: never leave a nightly entry behind, even when an assertion fails
        neurmatic("backup", "schedule", "--method", "cron", "--remove", state_dir=state_dir, check=False)


def _crontab() -> list[str]:
    listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return listed.stdout.splitlines() if listed.returncode == 0 else []


def test_away_from_utc_the_entry_is_utc_where_cron_reads_cron_tz(tmp_path: Path) -> None:
    """Japan's time (UTC+9, no daylight saving): cronie reads CRON_TZ and gets 02:00 UTC as such; a cron that
    ignores it (Debian's) gets the same moment in local time, 11:00, and no CRON_TZ line."""
    cron_file = tmp_path / "neurmatic-backup"
    installed = _schedule(
        tmp_path / "state", "--cron-file", str(cron_file), tz="JST-9"
    )  # POSIX form: no tzdata needed
    lines = cron_file.read_text().splitlines()
    if cron_reads_cron_tz():
        assert lines[-2] == "CRON_TZ=UTC" and lines[-1].startswith("0 2 * * * root ")
    else:
        assert "CRON_TZ=UTC" not in lines and lines[-1].startswith("0 11 * * * root ")
        assert any("local time" in note for note in installed["notes"])


def test_cron_file_and_systemd_timer(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    cron_file = tmp_path / "cron.d" / "neurmatic-backup"
    _schedule(state_dir, "--cron-file", str(cron_file), "--at", "03:30")
    text = cron_file.read_text()
    assert "CRON_TZ=UTC\n30 3 * * * root " in text and oct(cron_file.stat().st_mode)[-3:] == "644"
    units = tmp_path / "units"
    timer = _schedule(state_dir, "--method", "systemd", "--unit-dir", str(units))
    assert timer["entry"] == "OnCalendar=*-*-* 02:00:00 UTC"
    text = (units / "neurmatic-backup.timer").read_text()
    assert "OnCalendar=*-*-* 02:00:00 UTC" in text and "Persistent=true" in text
    assert f"NEURMATIC_STATE_DIR={state_dir}" in (units / "neurmatic-backup.service").read_text()
    _schedule(state_dir, "--method", "systemd", "--unit-dir", str(units), "--remove")
    assert list(units.iterdir()) == []


def test_a_bad_time_is_refused(tmp_path: Path) -> None:
    result = neurmatic("backup", "schedule", "--at", "25:99", state_dir=tmp_path / "s", check=False)
    assert result.returncode == 2 and "HH:MM" in result.stderr


def _ours(table: list[str], state_dir: Path) -> list[str]:
    return [line for line in table if line.endswith(str(state_dir))]


def test_physical_schedule_is_a_weekly_full_and_daily_differentials(tmp_path: Path) -> None:
    """With --physical, beside the logical backup: Sunday's full and the other days' differential,
    installed once however often; a run without it leaves them out (and says so); --remove takes all."""
    require_binary("crontab")
    state_dir = tmp_path / "state"
    before = _crontab()
    try:
        installed = _schedule(state_dir, "--method", "cron", "--physical")
        assert [job["args"] for job in installed["jobs"]] == [
            [],
            ["--physical", "--type", "full"],
            ["--physical", "--type", "diff"],
        ]
        zone, logical, full, diff = str(installed["entry"]).splitlines()
        assert zone == "CRON_TZ=UTC" and logical.startswith("0 2 * * * ")
        assert full.startswith("0 1 * * 0 ") and "backup.sh --physical --type full >> " in full
        assert diff.startswith("0 1 * * 1-6 ") and "backup.sh --physical --type diff >> " in diff
        _schedule(state_dir, "--method", "cron", "--physical")
        table = _crontab()
        assert _ours(table, state_dir) == [logical, full, diff]
        assert table.count("CRON_TZ=UTC") == before.count("CRON_TZ=UTC") + 1
        logical_only = _schedule(state_dir, "--method", "cron")
        assert _ours(_crontab(), state_dir) == [logical]
        assert any("no longer scheduled" in note for note in logical_only["notes"])
        _schedule(state_dir, "--method", "cron", "--physical")
        _schedule(state_dir, "--method", "cron", "--remove")
        assert _crontab() == before
    finally:
        neurmatic("backup", "schedule", "--method", "cron", "--remove", state_dir=state_dir, check=False)


def test_physical_timers_and_a_cron_file_west_of_utc(tmp_path: Path) -> None:
    """systemd keeps UTC and names the days; a cron that ignores CRON_TZ gets local times, and 01:00 UTC
    on Sunday is Saturday evening five hours west (EST5: no daylight saving, no tzdata needed)."""
    state_dir, units = tmp_path / "state", tmp_path / "units"
    timers = _schedule(state_dir, "--method", "systemd", "--unit-dir", str(units), "--physical")
    assert str(timers["entry"]).splitlines() == [
        "OnCalendar=*-*-* 02:00:00 UTC",
        "OnCalendar=Sun *-*-* 01:00:00 UTC",
        "OnCalendar=Mon..Sat *-*-* 01:00:00 UTC",
    ]
    service = (units / "neurmatic-backup-diff.service").read_text()
    assert "backup.sh --physical --type diff" in service and f"NEURMATIC_STATE_DIR={state_dir}" in service
    _schedule(state_dir, "--method", "systemd", "--unit-dir", str(units))
    assert sorted(p.name for p in units.iterdir()) == ["neurmatic-backup.service", "neurmatic-backup.timer"]
    _schedule(state_dir, "--method", "systemd", "--unit-dir", str(units), "--physical", "--remove")
    assert list(units.iterdir()) == []
    cron_file = tmp_path / "neurmatic-backup"
    _schedule(state_dir, "--cron-file", str(cron_file), "--physical", "--physical-at", "01:30", tz="EST5")
    lines = cron_file.read_text().splitlines()
    if cron_reads_cron_tz():
        assert "CRON_TZ=UTC" in lines and lines[-2].startswith("30 1 * * 0 root ")
        assert lines[-1].startswith("30 1 * * 1-6 root ")
    else:
        assert lines[-2].startswith("30 20 * * 6 root ") and "--type full" in lines[-2]
        assert lines[-1].startswith("30 20 * * 0-5 root ") and "--type diff" in lines[-1]


def test_physical_backups_are_not_scheduled_for_a_deployment_without_process_control(tmp_path: Path) -> None:
    env_file = tmp_path / ".env.production"
    neurmatic("secrets", "generate", "--out", str(env_file))
    result = neurmatic(
        "backup", "schedule", "--env-file", str(env_file), "--cron-file", str(tmp_path / "cron"),
        "--physical", "--dir", str(tmp_path / "backups"), check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.CONFIGURATION, result.stdout + result.stderr
    assert "control of the servers' processes" in result.stderr and not (tmp_path / "cron").exists()
