"""One source for every config: the committed production files are exactly what the templates render."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.render.production import production_files
from tests.support import ROOT, neurmatic


def test_committed_production_configs_are_fresh() -> None:
    stale = [
        path
        for path, text in production_files().items()
        if not (ROOT / path).exists() or (ROOT / path).read_text() != text
    ]
    assert stale == [], f"run `neurmatic render`: stale {stale}"


def test_render_check_fails_on_a_stale_file_and_render_fixes_it(tmp_path: Path) -> None:
    for relative in production_files():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    assert neurmatic("render", "--check", "--root", str(tmp_path)).returncode == 0
    sentinel_conf = tmp_path / "infrastructure/redis/sentinel.conf"
    sentinel_conf.write_text(sentinel_conf.read_text() + "# edited by hand\n")
    result = neurmatic("render", "--check", "--root", str(tmp_path), check=False)
    assert result.returncode == ExitCode.CONFIGURATION
    assert "infrastructure/redis/sentinel.conf" in result.stderr
    neurmatic("render", "--root", str(tmp_path))
    assert neurmatic("render", "--check", "--root", str(tmp_path)).returncode == 0


def test_production_configs_hold_no_secret() -> None:
    secret_directive = re.compile(r"(requirepass|masterauth|auth-pass \S+|sentinel-pass)\s+(\S+)")
    found = 0
    for path, text in production_files().items():
        for line in text.splitlines():
            match = secret_directive.search(line)
            if match and not line.lstrip().startswith("#"):
                found += 1
                assert match.group(2).strip("\"'").startswith(("__", "${", "$$")), f"{path}: {line}"
    assert found >= 3
