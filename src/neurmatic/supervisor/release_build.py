"""Build a release beside the others: ``<state>/releases/<version>/{src,venv}`` (the local topology's
``ReleaseControl.build``).

The source is exported from a git commit (``git archive``: exactly what was committed, nothing from a
dirty work tree) or copied from a directory. The environment is a virtual environment of the same base
interpreter as the topology, made with ``--without-pip`` in a fraction of a second: a ``.pth`` file puts
the release's own ``src`` first on the path, then the installed environment's site-packages for the
third-party packages. A dependency the release declares (``pyproject.toml``) that those packages do not
satisfy (new, or a version outside its range) is installed by pip into the release's own site-packages,
which come first on its path: the release gets what it asks for, the other releases and the main
environment are untouched, and a deploy that changes no dependency costs no install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from neurmatic.adapters.commands import run
from neurmatic.deployment.releases import BuiltRelease, DeployFailed, Progress
from neurmatic.errors import CommandError
from neurmatic.supervisor.layout import Paths
from neurmatic.supervisor.state import ServiceAccount

_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".neurmatic", "node_modules",
)  # fmt: skip
_SMOKE = "import neurmatic, uvicorn, sqlalchemy, alembic, redis; print(neurmatic.__file__)"


def is_git_repository(source: Path) -> bool:
    result = run(["git", "-C", source, "rev-parse", "--is-inside-work-tree"], check=False, timeout=10)
    return result.returncode == 0 and (source / ".git").exists()


def resolve_commit(repo: Path, ref: str) -> str:
    result = run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], check=False)
    if result.returncode != 0:
        raise DeployFailed(
            f"{ref!r} is not a commit of {repo}", hint="pass --ref with a tag, branch or commit of the source"
        )
    return result.stdout.strip()


def build_release(
    paths: Paths, account: ServiceAccount, version: str, source: Path, ref: str | None, progress: Progress
) -> BuiltRelease:
    """Export, create the environment, byte-compile, open to the service account, check it imports."""
    started = time.monotonic()
    final = paths.release_dir(version)
    work = paths.releases / f".{version}.building"
    paths.releases.mkdir(parents=True, exist_ok=True)
    paths.releases.chmod(0o755)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o755)
    try:
        if is_git_repository(source):
            commit: str | None = resolve_commit(source, ref or version)
            _export_commit(source, str(commit), work)
            origin = f"{source}@{(ref or version)}"
        else:
            if not source.is_dir():
                raise DeployFailed(f"{source} is neither a git repository nor a directory")
            shutil.copytree(source, work, ignore=_COPY_IGNORE, dirs_exist_ok=True)
            commit, origin = None, str(source)
        if not (work / "src" / "neurmatic" / "__init__.py").is_file():
            raise DeployFailed(
                f"{origin} has no src/neurmatic package", hint="deploy a neurmatic source tree"
            )
        _make_environment(work, final)
        installed = _install_missing_dependencies(work, progress)
        _open_to_all(work)
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _smoke_test(final, account)
    progress(f"release {version}: built from {origin}{f' ({commit[:12]})' if commit else ''}")
    return BuiltRelease(version, final, commit, origin, round(time.monotonic() - started, 3), installed)


def _export_commit(repo: Path, commit: str, work: Path) -> None:
    """``git archive`` of the commit's ``src`` and ``pyproject.toml``, unpacked into ``work``."""
    with subprocess.Popen(
        ["git", "-C", str(repo), "archive", "--format=tar", commit, "src", "pyproject.toml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as archive:
        unpacked = subprocess.run(
            ["tar", "-x", "--no-same-owner", "-C", str(work)],
            stdin=archive.stdout,
            capture_output=True,
            check=False,
        )
        archive_err = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
    if archive.returncode != 0 or unpacked.returncode != 0:
        problem = archive_err or unpacked.stderr.decode(errors="replace")
        raise DeployFailed(f"cannot export {commit[:12]} from {repo}: {problem.strip()[-300:]}")


def _base_interpreter() -> Path:
    """The interpreter the running virtual environment was made from (a release venv uses the same)."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


def _make_environment(work: Path, final: Path) -> None:
    venv = work / "venv"
    try:
        run([_base_interpreter(), "-m", "venv", "--without-pip", venv], timeout=120)
    except CommandError as exc:
        raise DeployFailed(f"cannot create the release's environment: {exc.message}") from exc
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    lines = ["# the release's own code first, then the installed third-party packages", str(final / "src")]
    (site / "neurmatic-release.pth").write_text("\n".join([*lines, *installed]) + "\n")
    # Byte-compiled once, as the deploying user: the service account cannot write into the release.
    run([venv / "bin" / "python", "-m", "compileall", "-q", "-j", "0", "-d", final / "src", work / "src"],
        timeout=300, check=False)  # fmt: skip


def unsatisfied_dependencies(pyproject: Path) -> list[str]:
    """The release's declared dependencies that the installed environment does not satisfy.

    This process runs in that environment, so its distributions are the ones the release would share.
    A source tree without a ``pyproject.toml`` declares nothing: it runs on the shared packages.
    """
    if not pyproject.exists():
        return []
    try:
        declared = tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeployFailed(f"cannot read the release's {pyproject.name}: {exc}") from exc
    missing = []
    for text in declared:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise DeployFailed(f"the release declares an invalid dependency {text!r}: {exc}") from exc
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this platform or interpreter
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            missing.append(text)
    return missing


def _install_missing_dependencies(work: Path, progress: Progress) -> tuple[str, ...]:
    missing = unsatisfied_dependencies(work / "pyproject.toml")
    if not missing:
        return ()
    progress(f"release: installing what the installed environment lacks: {', '.join(missing)}")
    python = work / "venv" / "bin" / "python"
    # pip of this environment, acting on the release's interpreter: it sees the shared packages through
    # the .pth file, so it installs only what they do not satisfy, into the release's site-packages.
    argv: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install", "--no-input", "-q"]
    try:
        run([*argv, *missing], timeout=900)
    except CommandError as exc:
        raise DeployFailed(
            f"cannot install the release's dependencies {', '.join(missing)}: {exc.message[-600:]}",
            hint="check that the package index pip uses can be reached (`pip config list`)",
        ) from exc
    return tuple(missing)


def _open_to_all(root: Path) -> None:
    """Readable (and directories searchable) by the service account; writable by the deployer only."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod((mode | 0o444 | (0o111 if path.is_dir() or mode & 0o100 else 0)) & ~0o022)


def _smoke_test(final: Path, account: ServiceAccount) -> None:
    """As the service account: the release's interpreter runs and imports the release's own package."""
    python = final / "venv" / "bin" / "python"
    account.check_can_execute(python)
    result = run([python, "-c", _SMOKE], user=account.name, cwd=final, check=False, timeout=60)
    expected = final / "src" / "neurmatic" / "__init__.py"
    if result.returncode != 0 or Path(result.stdout.strip()) != expected:
        raise DeployFailed(
            f"the release in {final} does not import its own code as {account.name or 'this user'}: "
            f"{(result.stderr or result.stdout).strip()[-400:]}",
            hint="see the error above: a dependency the release imports but does not declare in its "
            "pyproject.toml is not installed for it",
        )
