"""``neurmatic backup schedule``: installed once however often it runs, shown, and removable."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, time
from pathlib import Path

from tests.support import neurmatic, require_binary


def _schedule(state_dir: Path, *args: str) -> dict[str, object]:
    out = neurmatic("backup", "schedule", "--json", *args, state_dir=state_dir)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_crontab_entry_is_idempotent_and_removable(tmp_path: Path) -> None:
    require_binary("crontab")
    state_dir = tmp_path / "state"
    try:
        installed = _schedule(state_dir, "--method", "cron", "--verify")
        entry = str(installed["entry"])
        local = datetime.combine(datetime.now(UTC).date(), time(2, 0), tzinfo=UTC).astimezone()
        assert entry.startswith(f"{local.minute} {local.hour} * * * ") and "backup.sh --verify" in entry
        assert f"NEURMATIC_STATE_DIR={state_dir}" in entry
        _schedule(state_dir, "--method", "cron", "--verify")
        table = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout
        assert [line for line in table.splitlines() if str(state_dir) in line] == [entry]
        _schedule(state_dir, "--method", "cron", "--remove")
        table = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False).stdout
        assert str(state_dir) not in table
    finally:  # this user's real crontab: never leave a nightly entry behind, even when an assertion fails
        neurmatic("backup", "schedule", "--method", "cron", "--remove", state_dir=state_dir, check=False)


def test_cron_file_and_systemd_timer(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    cron_file = tmp_path / "cron.d" / "neurmatic-backup"
    _schedule(state_dir, "--cron-file", str(cron_file), "--at", "03:30")
    assert "30 3 * * * root " in cron_file.read_text() and oct(cron_file.stat().st_mode)[-3:] == "644"
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
