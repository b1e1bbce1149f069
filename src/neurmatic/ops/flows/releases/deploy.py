"""``neurmatic deploy VERSION``: a zero-downtime deploy, rolled back by itself on failure.

The procedure is here; the processes it moves are the platform's (``ReleaseControl``).

1. Pre-flight: the balancer runs, at least two API instances answer ready.
2. A backup of the database, before anything else (its path goes in the release record).
3. The release is built beside the others (``ReleaseControl.build``).
4. Its migrations run from its own code in one transaction, committed only if they merely expand the
   schema (``db/schema_guard``): the old release keeps running on it, and a rollback needs no down-migration.
5. The API instances, then the worker, are moved one at a time (``rolling``). A service that never gets
   ready, or that nginx sees failing, rolls everything back to the previous release the same way; the
   release is marked failed and the command fails.
Slack hears of the outcome; old release directories beyond the last five are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import neurmatic
from neurmatic.deployment.model import Deployment
from neurmatic.deployment.releases import DeployFailed, DeployRolledBack, ReleaseControl, SchemaNotExpandOnly
from neurmatic.ops.flows.backups.dump import create_backup
from neurmatic.ops.flows.monitoring.notify import SlackNotifier, host_label
from neurmatic.ops.flows.releases.context import preflight, run_migrations
from neurmatic.ops.flows.releases.history import (
    ReleaseHistory,
    ReleaseRecord,
    check_version,
    exclusive,
    label,
    now,
)
from neurmatic.ops.flows.releases.rolling import Rollout, RolloutOptions

Progress = Callable[[str], None]


def project_repository() -> Path | None:
    """The git work tree the installed package comes from, when it is one (the default deploy source)."""
    root = Path(neurmatic.__file__).resolve().parents[2]
    return root if (root / ".git").exists() else None


def deploy(
    deployment: Deployment,
    releases: ReleaseControl,
    version: str,
    *,
    source: Path,
    ref: str | None,
    options: RolloutOptions,
    notifier: SlackNotifier,
    progress: Progress,
) -> ReleaseRecord:
    """Deploy ``version`` from ``source`` (a git repository at ``ref``, or a directory)."""
    check_version(version)
    with exclusive(releases.lock_file, "deploy"):
        history = ReleaseHistory.load(releases.history_file)
        earlier = history.find(version)
        if version == history.current:
            raise DeployFailed(f"{version} is the current release", hint="deploy a new version")
        if earlier and earlier.status in ("deployed", "rolled-back") and releases.has_release(version):
            raise DeployFailed(
                f"{version} was deployed before", hint=f"go back to it with `neurmatic rollback {version}`"
            )
        preflight(releases)
        started = time.monotonic()
        record = ReleaseRecord(version, None, str(source), now(), replaced=history.current)
        try:
            _prepare(deployment, releases, history, record, source, ref, notifier, progress)
            _switch(releases, history, record, options, notifier, progress)
        except BaseException as exc:
            if record.status == "building":  # stopped by something unforeseen: say so in the history
                record.status = "failed"
                record.message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"[:500]
                if history.find(version) is record:
                    history.save(releases.history_file)
            raise
        record.status, record.deployed_at, history.current = "deployed", now(), version
        record.durations["total"] = round(time.monotonic() - started, 3)
        history.save(releases.history_file)
        _prune(releases, history, progress)
        commit = f" ({record.commit[:12]})" if record.commit else ""
        problem = notifier.send(
            f":rocket: neurmatic {version}{commit} deployed on {host_label()} "
            f"in {record.durations['total']:.0f}s (was {label(record.replaced)})"
        )
        if problem:
            progress(f"warning: {problem}")
        return record


def _prepare(
    deployment: Deployment,
    releases: ReleaseControl,
    history: ReleaseHistory,
    record: ReleaseRecord,
    source: Path,
    ref: str | None,
    notifier: SlackNotifier,
    progress: Progress,
) -> None:
    """Backup, build, expand-only migrations: everything before traffic moves."""
    began = time.monotonic()
    backup, _ = create_backup(deployment.app, deployment.backup_dir)
    record.backup, record.durations["backup"] = str(backup), round(time.monotonic() - began, 3)
    progress(f"backup: {backup} ({record.durations['backup']:.1f}s)")
    built = releases.build(record.version, source, ref, progress)
    record.commit, record.source, record.durations["build"] = (
        built.commit,
        built.source,
        built.duration_seconds,
    )
    record.dependencies_installed = list(built.installed)
    history.put(record)
    history.save(releases.history_file)
    began = time.monotonic()
    migration = run_migrations(deployment, releases, record.version, check=True)
    record.durations["migrations"] = round(time.monotonic() - began, 3)
    if migration.refused:
        record.status, record.message = "refused", "; ".join(migration.problems)
        history.save(releases.history_file)
        notifier.send(
            f":no_entry: deploy of {record.version} refused on {host_label()}: "
            f"its migrations {record.message}"
        )
        raise SchemaNotExpandOnly(
            f"{record.version}'s migrations do not only expand the schema "
            f"(rolled back, nothing was switched): {record.message}",
            hint="ship it in two deploys: expand now, contract once no release uses the old shape",
        )
    progress(f"migrations: {migration.from_revision} -> {migration.to_revision}, expand-only, committed")


def _switch(
    releases: ReleaseControl,
    history: ReleaseHistory,
    record: ReleaseRecord,
    options: RolloutOptions,
    notifier: SlackNotifier,
    progress: Progress,
) -> None:
    """The rolling switch; any failure puts the previous release back (and raises)."""
    rollout = Rollout(releases, progress, options)
    began = time.monotonic()
    try:
        rollout.switch(record.version)
    except Exception as exc:  # whatever stopped the switch, traffic goes back to what worked
        failure = exc if isinstance(exc, DeployFailed) else DeployFailed(f"{type(exc).__name__}: {exc}")
        record.durations.update(rollout.durations)
        _roll_back_failed(releases, history, record, rollout, failure, notifier, progress)
    record.durations.update(rollout.durations)
    record.durations["switch"] = round(time.monotonic() - began, 3)


def _roll_back_failed(
    releases: ReleaseControl,
    history: ReleaseHistory,
    record: ReleaseRecord,
    rollout: Rollout,
    failure: DeployFailed,
    notifier: SlackNotifier,
    progress: Progress,
) -> None:
    """Put the previous release back the same rolling way; always raises."""
    previous = record.replaced
    progress(f"FAILED: {failure.message}; rolling back to {label(previous)}")
    began = time.monotonic()
    record.status, record.message = "failed", failure.message
    try:
        rollout.switch(previous)
    except DeployFailed as again:
        record.message = f"{failure.message}; the automatic rollback failed too: {again.message}"
        history.save(releases.history_file)
        notifier.send(
            f":rotating_light: deploy of {record.version} FAILED on {host_label()} "
            f"and so did the rollback: {record.message}"
        )
        raise DeployFailed(
            f"{record.version} failed ({failure.message}) and rolling back to {label(previous)} "
            f"failed: {again.message}",
            hint="see `neurmatic status` and the services' logs; `neurmatic rollback` retries",
        ) from again
    record.durations["auto_rollback"] = round(time.monotonic() - began, 3)
    history.save(releases.history_file)
    problem = notifier.send(
        f":rotating_light: deploy of {record.version} failed on {host_label()} ({failure.message}); "
        f"rolled back to {label(previous)} automatically"
    )
    if problem:
        progress(f"warning: {problem}")
    raise DeployRolledBack(
        f"{record.version} failed: {failure.message}; rolled back to {label(previous)} automatically "
        f"in {record.durations['auto_rollback']:.1f}s",
        hint=failure.hint,
    ) from failure


def _prune(releases: ReleaseControl, history: ReleaseHistory, progress: Progress) -> None:
    for version in history.to_prune():
        releases.remove_release(version)
        record = history.find(version)
        if record:
            record.pruned = True
        progress(f"release {version}: removed (keeping the last five)")
    history.save(releases.history_file)
