"""``neurmatic rollback [VERSION] [--restore-db]``: back to the previous (or a named) release, rolling.

The schema needs nothing: deploys only expand it, so an older release runs on it as it is. With
``--restore-db`` (the guide's last resort, when a release damaged data) the database is then replaced by
the backup taken just before the rolled-back release went live: writes made since are lost, and requests
in flight during the swap fail. The restored schema is brought to the target release's head by that
release's own migrations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from neurmatic.deployment.model import Deployment
from neurmatic.deployment.releases import DeployFailed, ReleaseControl
from neurmatic.ops.flows.backups.restore import restore_backup
from neurmatic.ops.flows.monitoring.notify import SlackNotifier, host_label
from neurmatic.ops.flows.releases.context import preflight, run_migrations
from neurmatic.ops.flows.releases.history import ReleaseHistory, exclusive, label
from neurmatic.ops.flows.releases.rolling import Rollout, RolloutOptions

Progress = Callable[[str], None]
PREVIOUS = "__previous__"


@dataclass(frozen=True)
class RollbackOutcome:
    left: str | None
    now: str | None
    restored_backup: str | None
    duration_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.left,
            "to": self.now,
            "restored_backup": self.restored_backup,
            "duration_seconds": self.duration_seconds,
        }


def choose_target(history: ReleaseHistory, requested: str | None) -> str | None:
    """The release to go back to: the named one, else the one the current release replaced."""
    if history.current is None and requested is None:
        raise DeployFailed(
            "nothing to roll back: this topology runs the installed package, no release was deployed",
            hint="`neurmatic releases` shows the history",
        )
    target = history.previous if requested is None else requested
    if target == history.current:
        raise DeployFailed(f"{label(target)} is the current release already")
    return target


def rollback(
    deployment: Deployment,
    releases: ReleaseControl,
    requested: str | None,
    *,
    restore_db: bool,
    options: RolloutOptions,
    notifier: SlackNotifier,
    progress: Progress,
) -> RollbackOutcome:
    """Switch every service to the target release (and with ``restore_db`` restore the pre-deploy backup)."""
    with exclusive(releases.lock_file, "roll back"):
        history = ReleaseHistory.load(releases.history_file)
        target, left = choose_target(history, requested), history.current
        if target is not None and not releases.has_release(target):
            raise DeployFailed(
                f"release {target} is not on disk (never built, or pruned)", hint="deploy it again"
            )
        backup = history.backup_before_leaving(target) if restore_db else None
        if restore_db and (backup is None or not backup.backup or not Path(backup.backup).exists()):
            raise DeployFailed(
                f"no backup taken before {label(target)} was left is on disk",
                hint="restore one yourself with `neurmatic restore`, then roll back without --restore-db",
            )
        preflight(releases, all_ready=False)
        started = time.monotonic()
        progress(f"rolling back from {label(left)} to {label(target)}")
        rollout = Rollout(releases, progress, options)
        try:
            rollout.switch(target)
        except DeployFailed as exc:
            progress(f"FAILED: {exc.message}; returning to {label(left)}")
            rollout.switch(left)
            raise DeployFailed(
                f"rolling back to {label(target)} failed ({exc.message}); {label(left)} runs again",
                hint=exc.hint,
            ) from exc
        restored = (
            _restore(deployment, releases, target, Path(backup.backup), progress)
            if backup and backup.backup
            else None
        )
        history.current = target
        record = history.find(left) if left else None
        if record is not None:
            record.status = "rolled-back"
            record.durations["rollback"] = round(time.monotonic() - started, 3)
        revived = history.find(target) if target else None
        if revived is not None:
            revived.status = "deployed"  # live again (a rollback to a release left earlier)
        history.save(releases.history_file)
        outcome = RollbackOutcome(left, target, restored, round(time.monotonic() - started, 3))
        restored_note = f", database restored from {Path(restored).name}" if restored else ""
        problem = notifier.send(
            f":leftwards_arrow_with_hook: neurmatic rolled back from {label(left)} to {label(target)} on "
            f"{host_label()} in {outcome.duration_seconds:.0f}s{restored_note}"
        )
        if problem:
            progress(f"warning: {problem}")
        return outcome


def _restore(
    deployment: Deployment, releases: ReleaseControl, target: str | None, backup: Path, progress: Progress
) -> str:
    """The guide's database rollback: restore the pre-deploy backup, then the target's migrations."""
    app = deployment.app
    restore_backup(
        backup,
        admin=deployment.admin,
        database=app.dbname,
        owner=app.user,
        yes=True,
        safety_dir=deployment.backup_dir / "safety",
        step=lambda message: progress(f"restore: {message}"),
    )
    migration = run_migrations(deployment, releases, target, check=False)
    progress(f"restore: migrations of {label(target)}: {migration.from_revision} -> {migration.to_revision}")
    return str(backup)
