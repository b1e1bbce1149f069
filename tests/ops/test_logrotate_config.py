"""The production hosts' logrotate file: logrotate accepts it, and it really rotates by size."""

from __future__ import annotations

import subprocess
from pathlib import Path

from neurmatic.render.logrotate import render_logrotate
from tests.support import ROOT, require_binary


def test_logrotate_accepts_the_committed_file(tmp_path: Path) -> None:
    logrotate = require_binary("logrotate", "/usr/sbin/logrotate")
    result = subprocess.run(
        [logrotate, "-d", "-s", str(tmp_path / "state"), str(ROOT / "infrastructure/logrotate/neurmatic")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    # logrotate's own complaints start a line with "error:" (nginx's error.log is named in the output too).
    assert not [line for line in output.splitlines() if line.lower().startswith("error")], output
    assert "/var/log/nginx/*.log" in result.stdout + result.stderr


def test_a_log_over_the_size_is_rotated_and_a_small_one_is_not(tmp_path: Path) -> None:
    logrotate = require_binary("logrotate", "/usr/sbin/logrotate")
    nginx_logs = tmp_path / "nginx"
    nginx_logs.mkdir()
    access, error = nginx_logs / "access.log", nginx_logs / "error.log"
    access.write_bytes(b"GET / 200\n" * (21 * 1024**2 // 10))  # over maxsize 20M
    error.write_text("one warning\n")
    config = tmp_path / "neurmatic.conf"
    config.write_text(render_logrotate(nginx_logs=str(nginx_logs), backup_log=str(tmp_path / "backup.log")))
    result = subprocess.run(
        [logrotate, "-s", str(tmp_path / "state"), str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert access.stat().st_size == 0  # copytruncate: the same file, cut; the old lines in access.log.1
    assert (nginx_logs / "access.log.1").stat().st_size >= 20 * 1024**2
    assert error.read_text() == "one warning\n" and not (nginx_logs / "error.log.1").exists()
