"""``neurmatic backup schedule``: installed once however often it runs, shown, and removable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

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
