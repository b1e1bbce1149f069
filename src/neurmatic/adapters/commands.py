"""Run an external program: argv only (never a shell), a timeout, and a typed error on failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from neurmatic.errors import CommandError, CommandTimeout, MissingBinaryError


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return its result; raise CommandError on a non-zero exit when ``check``.

    ``env`` is added to the current environment (so secrets go in as variables, never in argv where
    ``ps`` would show them). ``user`` runs the program as that account (we are root only then).
    """
    args = [str(part) for part in argv]
    full_env = {**os.environ, **(env or {})}
    try:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            user=user,
            group=primary_group(user),
            cwd=cwd,
            input=input_text,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MissingBinaryError(f"{args[0]} is not installed", hint="run `./dev setup`") from exc
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise CommandTimeout(args, -1, f"timed out after {timeout:g}s\n{output}") from exc
    if check and result.returncode != 0:
        raise CommandError(args, result.returncode, result.stdout + result.stderr)
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def primary_group(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid


def require_binary(name: str, *, candidates: Sequence[Path] = (), package: str) -> Path:
    """Locate ``name`` on PATH or in ``candidates``; say how to install ``package`` when absent."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise MissingBinaryError(
        f"{name} is not installed",
        hint=f"install it with `apt-get install -y {package}` (or run `./dev setup` as root)",
    )
