"""The web client (``frontend/``, React + Vite): built with npm when its sources changed, then copied
into the state directory, where nginx serves it.

Staleness is a digest of the sources (every file but ``node_modules``/``dist``), not their times: a git
checkout sets every time to now. The build runs under a lock on the frontend directory, so two topologies
brought up at once (the CI's two test lanes) build it once. nginx serves a copy, never ``frontend/dist``
itself: Vite empties its output directory first, and a rebuild would otherwise pull files from under a
page being loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from neurmatic.adapters.commands import run
from neurmatic.errors import CommandError, ConfigurationError, MissingBinaryError
from neurmatic.supervisor.state import TopologyState

Progress = Callable[[str], None]
FRONTEND_ENV = "NEURMATIC_FRONTEND_DIR"  # another checkout's frontend/, or "off" for the API only
_SKIPPED_DIRS = {"node_modules", "dist", "coverage", ".vite", "test-results"}
_DIGEST_FILE = ".source-digest"  # in dist/: the sources it was built from
_LOCK_DIGEST_FILE = ".neurmatic-lock-digest"  # in node_modules/: the package-lock.json it was installed from
_NPM_TIMEOUT = 600.0


def frontend_dir() -> Path | None:
    """The frontend sources: ``$NEURMATIC_FRONTEND_DIR``, else the checkout's ``frontend/`` beside
    ``src/`` (None when this installation has none, or the variable says ``off``)."""
    configured = os.environ.get(FRONTEND_ENV)
    if configured == "off":
        return None
    if configured:
        path = Path(configured)
        if not (path / "package.json").is_file():
            raise ConfigurationError(
                f"{FRONTEND_ENV}={configured} has no package.json",
                hint="point it at the web client's directory (frontend/), or set it to off",
            )
        return path
    candidate = Path(__file__).resolve().parents[3] / "frontend"
    return candidate if (candidate / "package.json").is_file() else None


def source_digest(frontend: Path) -> str:
    """A digest of every source file's path and bytes (build outputs and installed packages left out)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(frontend):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            digest.update(str(path.relative_to(frontend)).encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _build_lock(frontend: Path) -> Iterator[None]:
    with (frontend / ".build.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(frontend: Path, *args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MissingBinaryError(
            "npm is not installed: the web client cannot be built",
            hint="install Node.js 20 and npm (./dev setup does), or set NEURMATIC_FRONTEND_DIR=off",
        )
    try:
        run([npm, *args], cwd=frontend, timeout=_NPM_TIMEOUT, env={"CI": "true", "NO_COLOR": "1"})
    except CommandError as exc:
        exc.hint = (
            f"the web client's `npm {' '.join(args)}` failed in {frontend}: run it there to see all of its"
            f" output, or set {FRONTEND_ENV}=off to serve the API only"
        )
        raise


def ensure_built(frontend: Path, progress: Progress = lambda _msg: None) -> Path:
    """``frontend/dist``, built now if the sources changed since it was (``npm ci`` first when
    ``package-lock.json`` did)."""
    with _build_lock(frontend):
        dist = frontend / "dist"
        digest = source_digest(frontend)
        stamp = dist / _DIGEST_FILE
        if (dist / "index.html").is_file() and stamp.is_file() and stamp.read_text() == digest:
            return dist
        lock_digest = hashlib.sha256((frontend / "package-lock.json").read_bytes()).hexdigest()
        installed = frontend / "node_modules" / _LOCK_DIGEST_FILE
        if not installed.is_file() or installed.read_text() != lock_digest:
            progress("web client: installing its packages (npm ci)")
            _npm(frontend, "ci", "--no-audit", "--no-fund")
            installed.parent.mkdir(exist_ok=True)  # npm makes none for a package without dependencies
            installed.write_text(lock_digest)
        progress("web client: building (npm run build)")
        _npm(frontend, "run", "build")
        stamp.write_text(digest)
        return dist


def install(state: TopologyState, progress: Progress = lambda _msg: None) -> Path | None:
    """Build the web client if stale and put a copy where nginx serves it (``<state>/web``); None when
    this installation has no web client (nginx then serves the API alone)."""
    target = state.paths.web
    frontend = frontend_dir()
    if frontend is None:
        shutil.rmtree(target, ignore_errors=True)
        progress("web client: none in this installation; nginx serves the API only")
        return None
    dist = ensure_built(frontend, progress)
    fresh = target.with_name(".web.new")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(dist, fresh, ignore=shutil.ignore_patterns(_DIGEST_FILE))
    state.account.own(fresh)
    fresh.chmod(0o755)
    # Swap: the old copy out of the way, the new one in (each rename atomic; nginx opens files per request).
    old = target.with_name(".web.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def main() -> None:
    """``python -m neurmatic.supervisor.web_client``: build the web client if stale (``./dev setup``)."""
    import sys

    frontend = frontend_dir()
    if frontend is None:
        print("web client: none in this installation", file=sys.stderr)
        return
    try:
        dist = ensure_built(frontend, lambda message: print(message, file=sys.stderr))
    except (CommandError, MissingBinaryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"web client: {dist}", file=sys.stderr)


if __name__ == "__main__":
    main()
