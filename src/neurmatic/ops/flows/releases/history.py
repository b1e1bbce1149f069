"""Release records: what was deployed when, from which commit, how it went, and which release is current.

The platform's history file (``<state>/releases.json`` on the local topology) holds one record per release
(version, commit, times, status, pre-deploy backup, step durations) and the current version; it is
rewritten atomically. A record's ``replaced`` is the release that was current before it went live: the
default target of a rollback, and the "previous" release that pruning never deletes. ``None`` stands for
the installed package (what the topology runs before its first deploy).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neurmatic.deployment.releases import DeployFailed
from neurmatic.private_files import write_private_file

KEEP_RELEASES = 5
INSTALLED = "(installed package)"  # how the release "None" is shown
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_version(version: str) -> str:
    """A version names a directory: letters, digits, ``.``, ``_``, ``+``, ``-``; at most 64."""
    if not _VERSION.fullmatch(version):
        raise DeployFailed(
            f"{version!r} is not a usable version name",
            hint="use letters, digits, '.', '_', '+' or '-' (e.g. v1.4.2 or 2024-06-01.1)",
        )
    return version


def label(version: str | None) -> str:
    return version or INSTALLED


@dataclass
class ReleaseRecord:
    version: str
    commit: str | None
    source: str
    created_at: str
    status: str = "building"  # building | deployed | failed | refused | rolled-back
    deployed_at: str | None = None
    replaced: str | None = None  # the release current before this one went live
    backup: str | None = None  # the backup taken just before this deploy
    # declared dependencies the shared packages did not satisfy, installed into the release's environment
    dependencies_installed: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    pruned: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseRecord:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass
class ReleaseHistory:
    current: str | None = None
    records: list[ReleaseRecord] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ReleaseHistory:
        """The history in ``path`` (``ReleaseControl.history_file``); empty before the first deploy."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise DeployFailed(
                f"cannot read {path}: {exc}",
                hint="restore it from a backup of the state dir",
            ) from exc
        return cls(data.get("current"), [ReleaseRecord.from_dict(r) for r in data.get("releases", [])])

    def save(self, path: Path) -> None:
        """Rewrite ``path`` atomically."""
        data = {"current": self.current, "releases": [asdict(r) for r in self.records]}
        write_private_file(path, json.dumps(data, indent=2) + "\n")

    def find(self, version: str | None) -> ReleaseRecord | None:
        return next((r for r in reversed(self.records) if r.version == version), None)

    def put(self, record: ReleaseRecord) -> None:
        """Add ``record``, replacing an earlier record of the same version (a rebuilt failed release)."""
        self.records = [r for r in self.records if r.version != record.version] + [record]

    @property
    def previous(self) -> str | None:
        """The release the current one replaced (the default rollback target)."""
        record = self.find(self.current) if self.current else None
        return record.replaced if record else None

    def backup_before_leaving(self, target: str | None) -> ReleaseRecord | None:
        """The latest deploy that replaced ``target``: its pre-deploy backup holds ``target``'s data."""
        replacing = [
            r
            for r in self.records
            if r.replaced == target and r.backup and r.status in ("deployed", "rolled-back")
        ]
        return max(replacing, key=lambda r: r.deployed_at or r.created_at, default=None)

    def to_prune(self, keep: int = KEEP_RELEASES) -> list[str]:
        """Versions whose directories go: all but the newest ``keep``, never the current or previous."""
        protected = {self.current, self.previous}
        alive = [r for r in self.records if not r.pruned]
        alive.sort(key=lambda r: r.created_at, reverse=True)
        return [r.version for r in alive[keep:] if r.version not in protected]


@contextlib.contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """One deploy, rollback or scaling at a time per topology (an advisory lock on ``lock_file``,
    ``ReleaseControl.lock_file``)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DeployFailed(
                f"cannot {what}: another deploy, rollback or scaling is running on this topology",
                hint="wait for it to finish (`neurmatic releases` shows the outcome)",
            ) from exc
        yield
    finally:
        os.close(fd)
