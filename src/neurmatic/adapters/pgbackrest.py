"""pgBackRest, driven through its command line: a thin typed wrapper (argv only, secrets in the
environment, JSON where pgBackRest gives it, errors translated here).

pgBackRest reads the data directory and writes the repository as the account that owns the cluster
(``user`` when we are root) and refuses to run otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neurmatic.adapters.commands import require_binary, run
from neurmatic.errors import CommandError, NeurmaticError

BACKUP_TIMEOUT_SECONDS = 6 * 3600.0
MAX_RETENTION = 9_999_999  # pgBackRest's largest repo-retention-full (days, or backups)


class PgBackRestError(NeurmaticError):
    """pgBackRest refused or failed; the message is its own."""


@dataclass(frozen=True)
class BackupSet:
    """One backup in a repository, as ``pgbackrest info`` describes it."""

    label: str
    type: str  # full, diff, incr
    started: datetime
    stopped: datetime
    lsn_start: str
    lsn_stop: str
    wal_start: str  # the WAL segments it needs to become consistent (their names carry the timeline)
    wal_stop: str
    repo: int
    size: int  # the database's size at the time
    repo_size: int  # what it takes in the repository
    error: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackupSet:
        timestamp, lsn, info = data["timestamp"], data.get("lsn", {}), data.get("info", {})
        return cls(
            label=str(data["label"]),
            type=str(data["type"]),
            started=datetime.fromtimestamp(int(timestamp["start"]), UTC),
            stopped=datetime.fromtimestamp(int(timestamp["stop"]), UTC),
            lsn_start=str(lsn.get("start", "")),
            lsn_stop=str(lsn.get("stop", "")),
            wal_start=str(data.get("archive", {}).get("start", "")),
            wal_stop=str(data.get("archive", {}).get("stop", "")),
            repo=int(data.get("database", {}).get("repo-key", 1)),
            size=int(info.get("size", 0)),
            repo_size=int(info.get("repository", {}).get("delta", 0)),
            error=bool(data.get("error", False)),
        )


@dataclass(frozen=True)
class StanzaInfo:
    """What ``pgbackrest info --output=json`` says of one stanza."""

    name: str
    status: str  # "ok", or pgBackRest's message ("no valid backups", "missing stanza path", ...)
    backups: list[BackupSet] = field(default_factory=list)
    archive_min: str | None = None  # the oldest and newest WAL segment in the archive
    archive_max: str | None = None
    system_id: int | None = None  # the cluster the stanza belongs to (pg_control_system())
    repo_status: dict[int, str] = field(default_factory=dict)  # each repository's own status

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StanzaInfo:
        archives = [a for a in data.get("archive", []) if a.get("min")]
        databases = data.get("db", [])
        return cls(
            name=str(data["name"]),
            status=str(data.get("status", {}).get("message", "?")),
            system_id=int(databases[-1]["system-id"]) if databases else None,
            repo_status={
                int(repo["key"]): str(repo.get("status", {}).get("message", "?"))
                for repo in data.get("repo", [])
            },
            backups=sorted((BackupSet.from_json(b) for b in data.get("backup", [])), key=lambda b: b.stopped),
            archive_min=min((str(a["min"]) for a in archives), default=None),
            archive_max=max((str(a["max"]) for a in archives), default=None),
        )


class PgBackRest:
    """``pgbackrest --config=<config> --stanza=<stanza> ...`` as ``user`` with ``env`` (the secrets)."""

    def __init__(
        self,
        config: Path,
        stanza: str,
        *,
        env: Mapping[str, str],
        user: str | None = None,
        repos: tuple[int, ...] = (1,),
    ) -> None:
        self.binary = require_binary("pgbackrest", package="pgbackrest")
        self.config = config
        self.stanza = stanza
        self.env = dict(env)
        self.user = user
        self.repos = repos  # the repositories the configuration names (1: local disk, 2: S3)

    def run(self, command: str, *options: str, timeout: float = 600.0) -> str:
        """Run one pgBackRest command; its stdout. PgBackRestError with pgBackRest's own message."""
        argv: Sequence[str | Path] = [
            self.binary,
            f"--config={self.config}",
            f"--stanza={self.stanza}",
            *options,
            command,
        ]
        try:
            return run(argv, timeout=timeout, env=self.env, user=self.user).stdout
        except CommandError as exc:
            raise PgBackRestError(f"pgbackrest {command} failed: {_message(exc.output)}") from exc

    def stanza_create(self, attempts: int = 10) -> None:
        """Create the stanza in every repository (idempotent: an existing, matching stanza is fine).
        It takes the archive's lock, which a running archive-push may hold for a moment: retried."""
        for attempt in range(attempts):
            try:
                self.run("stanza-create", timeout=120)
                return
            except PgBackRestError as exc:
                if "unable to acquire lock" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.5)

    def check(self) -> None:
        """pgBackRest's own end-to-end check: the configuration, the repositories, and a WAL segment
        archived from the primary and found in every repository."""
        self.run("check", timeout=180)

    def backup(self, kind: str, *options: str, repo: int | None = None) -> None:
        extra = [f"--type={kind}", *options, *([f"--repo={repo}"] if repo else [])]
        self.run("backup", *extra, timeout=BACKUP_TIMEOUT_SECONDS)

    def info(self, *, repo: int | None = None) -> StanzaInfo:
        options = ["--output=json", *([f"--repo={repo}"] if repo else [])]
        out = self.run("info", *options, timeout=120)
        try:
            stanzas = json.loads(out)
        except ValueError as exc:
            raise PgBackRestError(f"pgbackrest info answered what is not JSON: {out[:200]}") from exc
        for stanza in stanzas:
            if stanza.get("name") == self.stanza:
                return StanzaInfo.from_json(stanza)
        return StanzaInfo(self.stanza, "missing stanza")

    def restore(self, target_dir: Path, options: Sequence[str], *, repo: int | None = None) -> None:
        """Restore into ``target_dir`` (another data directory than the configured one: the live
        cluster is never touched) with pgBackRest's recovery ``options``.

        Its recovery fetches WAL synchronously, straight from the repository: the asynchronous queue
        in the spool belongs to the live node, and a segment cached there would hide one missing from
        the repository (a gap this recovery must stop at)."""
        fetch = f"{self.binary} --config={self.config} --stanza={self.stanza} --pg1-path={target_dir}"
        if repo:  # the WAL from the backup's own repository (the other may be empty: a new host)
            fetch += f" --repo={repo}"
        extra = [
            f"--pg1-path={target_dir}",
            f'--recovery-option=restore_command={fetch} --no-archive-async archive-get %f "%p"',
            *options,
            *([f"--repo={repo}"] if repo else []),
        ]
        self.run("restore", *extra, timeout=BACKUP_TIMEOUT_SECONDS)

    def verify(self, *, repo: int | None = None) -> list[str]:
        """``pgbackrest verify``: every file of every backup and archived WAL against its checksum; the
        report's lines about what is damaged (empty: all valid). pgBackRest 2.45 exits 0 either way, so
        its report is read: a stanza with ``status: error``, an archive or backup with invalid files."""
        options = ["--output=text", "--verbose", *([f"--repo={repo}"] if repo else [])]
        report = self.run("verify", *options, timeout=BACKUP_TIMEOUT_SECONDS)
        return damaged_in(report)

    def expire(self, *, backup: str | None = None, repo: int = 1) -> None:
        """The retention policy in every repository; with ``backup``, that one set in ``repo`` (and what
        depends on it) alone. Retention is then held at its maximum, as pgBackRest advises for an ad-hoc
        expire: no other backup, and no archived WAL another backup can still replay, goes with it."""
        one_set = [f"--set={backup}", f"--repo={repo}", f"--repo{repo}-retention-full={MAX_RETENTION}"]
        self.run("expire", *(one_set if backup else []), timeout=600)


def damaged_in(report: str) -> list[str]:
    """The lines of a ``verify --output=text --verbose`` report that name damage, each with its context
    (the archive or backup it is about)."""
    damaged: list[str] = []
    context = ""
    for raw in report.splitlines():
        line = raw.strip()
        if line.startswith(("archiveId:", "backup:")):
            context = line
            if "status:" in line and "status: valid" not in line:
                damaged.append(line)
        elif line.startswith("missing:"):
            counts = dict(part.strip().rsplit(": ", 1) for part in line.split(","))
            if any(value.strip() != "0" for value in counts.values()):
                damaged.append(f"{context}: {line}")
        elif line.startswith("status:") and line != "status: ok":
            damaged.append(f"stanza {line}")
    return damaged


def _message(output: str) -> str:
    """pgBackRest's ERROR/WARN lines (its message), else the tail of its output."""
    lines = [line.strip() for line in output.splitlines() if "ERROR:" in line or "WARN:" in line]
    return " ".join(lines) if lines else output.strip()[-500:]
