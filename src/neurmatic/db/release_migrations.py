"""Run a release's migrations with that release's own code (its interpreter, its Alembic scripts).

The work is done by :mod:`neurmatic.db.schema_guard`, run as a script by the release's interpreter so the
release's migrations and models are imported, not the supervisor's.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from neurmatic.adapters.commands import run
from neurmatic.db import schema_guard
from neurmatic.db.errors import MigrationFailed
from neurmatic.db.migrate import MIGRATIONS_DIR
from neurmatic.db.url import DatabaseUrl

GUARD_SCRIPT = Path(schema_guard.__file__)


@dataclass(frozen=True)
class MigrationOutcome:
    from_revision: str | None
    to_revision: str | None
    ahead: bool  # the database has revisions this release does not know (it was left alone)
    problems: list[str] = field(default_factory=list)  # non-empty: refused, rolled back
    duration_seconds: float = 0.0

    @property
    def refused(self) -> bool:
        return bool(self.problems)


def release_migrations(release_src: Path | None) -> Path:
    """The Alembic scripts of a release's source tree (None: the installed package's)."""
    if release_src is None:
        return MIGRATIONS_DIR
    return release_src / "neurmatic" / "db" / "migrations"


def migrate_release(
    python: Path | None,
    migrations: Path,
    url: DatabaseUrl,
    *,
    check: bool,
    timeout: float = 300.0,
) -> MigrationOutcome:
    """Upgrade to the release's head in one transaction; with ``check``, refuse anything but an expansion.

    ``python`` is the release's interpreter (None: the supervisor's). The password travels in the
    environment, never on the command line.
    """
    argv: list[str | Path] = [python or sys.executable, "-I", GUARD_SCRIPT, "--migrations", migrations]
    if check:
        argv.append("--check")
    env = {
        "NEURMATIC_MIGRATION_DSN": url.driver_dsn(),
        "NEURMATIC_MIGRATION_SESSION_ATTRS": url.target_session_attrs or "read-write",
    }
    result = run(argv, env=env, timeout=timeout, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode not in (0, schema_guard.REFUSED_EXIT) or not lines:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
        raise MigrationFailed(
            f"the migrations in {migrations} failed (rolled back, the schema is as it was):\n{tail}",
            hint="fix the migration and deploy a new version; nothing was switched",
        )
    data = json.loads(lines[-1])
    return MigrationOutcome(
        data.get("from"),
        data.get("to"),
        bool(data.get("ahead")),
        [str(p) for p in data.get("problems", [])],
        float(data.get("duration_seconds", 0.0)),
    )
