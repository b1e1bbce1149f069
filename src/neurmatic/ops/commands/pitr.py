"""The physical side of ``backup`` and ``restore``: pgBackRest backups, point-in-time recovery, and the
physical restore test (the commands in backup.py and restore.py hand over to these)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from neurmatic.deployment.model import Deployment
from neurmatic.errors import ConfirmationRequired
from neurmatic.ops.commands.backup_context import err, step
from neurmatic.ops.commands.options import confirm
from neurmatic.ops.flows.backups.errors import BackupInvalid
from neurmatic.ops.flows.backups.history import read_forks
from neurmatic.ops.flows.backups.physical import take_backup
from neurmatic.ops.flows.backups.pitr import RecoveredCluster, Target, plan_recovery, recover_beside
from neurmatic.ops.flows.backups.point_in_time import restore_cluster_to


def physical_backup(deployment: Deployment, kind: str, *, as_json: bool) -> None:
    made = take_backup(deployment.platform.archive().pgbackrest(), kind, step)
    if made:
        from neurmatic.backup_status import record_physical_success

        warning = record_physical_success(max(b.stopped for b in made), deployment.settings.redis)
        if warning:
            err.print(f"[yellow]![/] {warning}")
    if as_json:
        click.echo(json.dumps([asdict(backup) for backup in made], indent=2, default=str))
        return
    for backup in made:
        err.print(
            f"[green]✓[/] {backup.type} backup {backup.label} (repo{backup.repo}, "
            f"{backup.size / 1e6:.1f} MB of data, {backup.repo_size / 1e6:.1f} MB stored, "
            f"{(backup.stopped - backup.started).total_seconds():.0f}s), "
            f"consistent at {backup.stopped.isoformat(sep=' ')}",
            highlight=False,
        )


def list_physical(deployment: Deployment, *, as_json: bool) -> None:
    """The physical backups, newest first, with the repository each is in, and the archive's extent."""
    info = deployment.platform.archive().pgbackrest().info()
    backups = list(reversed(info.backups))
    if as_json:
        body = {
            "status": info.status,
            "repositories": info.repo_status,
            "archive": {"min": info.archive_min, "max": info.archive_max},
            "backups": [asdict(backup) for backup in backups],
        }
        click.echo(json.dumps(body, indent=2, default=str))
        return
    for backup in backups:
        click.echo(
            f"{backup.stopped.isoformat(sep=' ')}  {backup.type:4}  repo{backup.repo}  "
            f"{backup.repo_size / 1e6:8.1f} MB  {backup.label}"
        )
    click.echo(f"archive: {info.archive_min or '-'} .. {info.archive_max or '-'} ({info.status})")


def target_of(to: str | None, to_lsn: str | None, to_latest: bool) -> Target | None:
    given = [
        option for option, value in (("--to", to), ("--to-lsn", to_lsn), ("--to-latest", to_latest)) if value
    ]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} name two targets: give one")
    if to is not None:
        return Target.at_time(to)
    if to_lsn is not None:
        return Target.at_lsn(to_lsn)
    return Target("latest") if to_latest else None


def point_in_time_restore(
    deployment: Deployment, target: Target, *, database: str, dry_run: bool, yes: bool, as_json: bool
) -> None:
    if not dry_run and not yes and not sys.stdin.isatty():  # before hours of restore and replay
        raise ConfirmationRequired(
            "a recovery replaces the live cluster: confirm it, and there is no terminal to ask on",
            hint="pass --yes, or --dry-run to see the plan",
        )
    if dry_run:
        control = deployment.platform.archive()
        plan = plan_recovery(
            control.pgbackrest(), deployment.admin, target, forks=read_forks(control.forks_file)
        )
        if as_json:
            body = {
                "target": plan.target.describe(),
                "backup": asdict(plan.backup),
                "range": plan.range.describe(),
            }
            click.echo(json.dumps(body, indent=2, default=str))
        else:
            err.print(f"dry run: would {plan.describe()}", highlight=False)
        return
    recovered = restore_cluster_to(
        deployment,
        target,
        database=database,
        step=step,
        confirm=lambda question: confirm(question, yes=yes),
    )
    _report(recovered, as_json)


def _report(recovered: RecoveredCluster, as_json: bool) -> None:
    if as_json:
        body = {
            "target": recovered.plan.target.describe(),
            "backup": recovered.plan.backup.label,
            "tables": recovered.tables,
            "migration": recovered.migration,
        }
        click.echo(json.dumps(body, indent=2))
        return
    err.print(
        f"[green]✓[/] the cluster is recovered to {recovered.plan.target.describe()} "
        f"({len(recovered.tables)} tables, {sum(recovered.tables.values())} rows); its standby was rebuilt",
        highlight=False,
    )


def verify_physical(deployment: Deployment, *, database: str) -> None:
    """pgBackRest's verify of every repository file, then the latest backup restored with every archived
    WAL replayed into a scratch cluster, checked, and thrown away."""
    control = deployment.platform.archive()
    tool = control.pgbackrest()
    step("pgbackrest verify: every backup and archived WAL file against its checksum")
    damaged = tool.verify()
    if damaged:
        raise BackupInvalid(
            "the repository holds damaged files: " + "; ".join(damaged),
            hint="take a new full backup (`neurmatic backup --physical --type full`); recoveries that "
            "need the damaged WAL stop at it",
        )
    plan = plan_recovery(tool, deployment.admin, Target("latest"))
    step(plan.describe())
    recovered = recover_beside(
        control, plan, superuser_password=deployment.admin.password or "", database=database, step=step
    )
    recovered.discard()
    err.print(
        f"[green]✓[/] backup {plan.backup.label} and the archive after it restore and replay: "
        f"{len(recovered.tables)} tables, {sum(recovered.tables.values())} rows",
        highlight=False,
    )
