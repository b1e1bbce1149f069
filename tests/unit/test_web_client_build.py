"""`up`'s web client build (supervisor/web_client.py) with the real npm, on a tiny package of its own: built
once, not again while the sources are unchanged, again when one changes; a failing build says what to do
and leaves no stamp, so the next `up` tries again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neurmatic.errors import CommandError
from neurmatic.supervisor.web_client import ensure_built, source_digest
from tests.support import unavailable

# The "build": count the runs and write dist/index.html from src/page.html (node, like Vite would).
BUILD = (
    "node -e \"const fs=require('fs');fs.mkdirSync('dist',{recursive:true});"
    "fs.appendFileSync('../builds.log','x');fs.copyFileSync('src/page.html','dist/index.html')\""
)


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    if shutil.which("npm") is None:
        unavailable("npm is not installed (apt-get install -y npm)")
    root = tmp_path / "frontend"
    (root / "src").mkdir(parents=True)
    (root / "src" / "page.html").write_text("<p>one</p>")
    package = {"name": "tiny", "version": "1.0.0", "private": True, "scripts": {"build": BUILD}}
    (root / "package.json").write_text(json.dumps(package))
    lock = {"name": "tiny", "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": {"": {}}}
    (root / "package-lock.json").write_text(json.dumps(lock))
    return root


def _builds(frontend: Path) -> int:
    return len((frontend.parent / "builds.log").read_text())  # outside: not a source


def test_built_once_then_only_when_a_source_changes(frontend: Path) -> None:
    steps: list[str] = []
    dist = ensure_built(frontend, steps.append)
    assert (dist / "index.html").read_text() == "<p>one</p>"
    assert steps == ["web client: installing its packages (npm ci)", "web client: building (npm run build)"]
    assert ensure_built(frontend) == dist and _builds(frontend) == 1
    (frontend / "src" / "page.html").write_text("<p>two</p>")
    steps.clear()
    ensure_built(frontend, steps.append)
    assert (dist / "index.html").read_text() == "<p>two</p>" and _builds(frontend) == 2
    assert steps == ["web client: building (npm run build)"]  # the lock file did not change: no npm ci


def test_the_digest_ignores_outputs_and_installed_packages(frontend: Path) -> None:
    before = source_digest(frontend)
    for directory in ("dist", "node_modules"):
        (frontend / directory).mkdir(exist_ok=True)
        (frontend / directory / "anything.js").write_text("changed")
    assert source_digest(frontend) == before
    (frontend / "src" / "new.ts").write_text("export {}")
    assert source_digest(frontend) != before


def test_a_failing_build_says_what_to_do_and_is_tried_again(frontend: Path) -> None:
    package = json.loads((frontend / "package.json").read_text())
    package["scripts"]["build"] = "node -e \"console.error('TS2322: broken'); process.exit(2)\""
    (frontend / "package.json").write_text(json.dumps(package))
    for _ in range(2):  # no stamp was left: the second call runs the build again, and fails again
        with pytest.raises(CommandError) as failed:
            ensure_built(frontend)
        assert "TS2322: broken" in str(failed.value)
        assert failed.value.hint is not None and "NEURMATIC_FRONTEND_DIR=off" in failed.value.hint
    assert not (frontend / "dist" / ".source-digest").exists()
