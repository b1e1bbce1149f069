"""Files that hold secrets or state: written whole (atomically) and readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Owner(Protocol):
    """Who a written file is handed to (the local topology's service account)."""

    def own(self, *paths: Path) -> None: ...


def write_private_file(path: Path, text: str, account: Owner | None = None) -> None:
    """Write ``text`` atomically with mode 0600 (a crash leaves the old file or none, never half)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if account is not None:
        account.own(tmp)
    tmp.replace(path)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (comments and blanks ignored)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
