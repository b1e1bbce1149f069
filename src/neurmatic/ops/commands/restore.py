"""``neurmatic restore SOURCE`` and ``neurmatic restore-table BACKUP --table T…``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from neurmatic.ops.commands.backup_context import dir_option, err, jobs_option, step
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option
from neurmatic.ops.flows.backups.context import BackupContext, restore_and_migrate
from neurmatic.ops.flows.backups.restore_table import TablePlan, restore_tables
from neurmatic.ops.flows.backups.s3 import client_for, download


def _local(ctx: BackupContext, source: str) -> Path:
    """The backup as a local file: downloaded (with its manifest) when it is an s3:// address."""
    if not source.startswith("s3://"):
        return Path(source)
    step(f"downloading {source}")
    return download(client_for(ctx.settings.aws), source, ctx.downloads_dir)


@click.command()
@click.argument("source", required=False)
@click.option(
    "--db",
    "database",
    default=None,
    help="Target database [default: $DB_NAME, else the one DATABASE_URL names].",
)
@click.option("--yes", is_flag=True, help="Replace a non-empty target (a safety dump is taken first).")
@click.option(
    "--to", "to_time", metavar="TIME", help='Point-in-time recovery to TIME ("2026-11-26 17:04:59+00").'
)
@click.option("--to-lsn", metavar="LSN", help="Point-in-time recovery to a WAL position (0/3000028).")
@click.option("--to-latest", is_flag=True, help="Recovery to the last archived WAL (a lost primary).")
@click.option(
    "--dry-run", is_flag=True, help="With --to…: say which backup and WAL it would use; change nothing."
)
@deployment_option
@dir_option
@jobs_option
@json_option
def restore(
    source: str | None,
    database: str | None,
    yes: bool,
    to_time: str | None,
    to_lsn: str | None,
    to_latest: bool,
    dry_run: bool,
    target: DeploymentChoice,
    directory: Path | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Restore a backup, or the cluster to a point in time: checked beside the live one, then swapped in.

    SOURCE: a logical backup (a path or s3://…), verified, restored beside the target database, then
    swapped in. --to, --to-lsn, --to-latest: the whole cluster from pgBackRest's backups and WAL
    archive, recovered beside the live cluster, checked, then swapped in, its standby rebuilt."""
    from neurmatic.ops.commands.pitr import point_in_time_restore, target_of

    recovery = target_of(to_time, to_lsn, to_latest)
    if (recovery is None) == (source is None):
        raise click.UsageError(
            "give a backup to restore or a point in time (--to, --to-lsn, --to-latest), one of the two"
        )
    if recovery is not None:
        deployment = target.load()
        name = database or deployment.settings.backup.database or deployment.app.dbname
        point_in_time_restore(deployment, recovery, database=name, dry_run=dry_run, yes=yes, as_json=as_json)
        return
    if dry_run:
        raise click.UsageError("--dry-run goes with --to, --to-lsn or --to-latest")
    assert source is not None
    ctx = BackupContext.of(target.load(), directory)
    name = database or ctx.settings.backup.database or ctx.app.dbname
    backup_file = _local(ctx, source)
    result = restore_and_migrate(ctx, backup_file, name, yes=yes, jobs=jobs, step=step)
    safety = f"; safety dump {result.safety_backup}" if result.safety_backup else ""
    err.print(f"[green]✓[/] restored {backup_file.name} into {name}: {len(result.tables)} tables{safety}")


def _describe(plan: TablePlan) -> str:
    if plan.recreate:
        done = "recreated" if plan.applied else "would be recreated"
        return f"{plan.table}: missing in production; {done} with {plan.backup_rows} rows"
    return (
        f"{plan.table}: {plan.missing} rows missing (to insert), {plan.changed} changed "
        f"({'to overwrite' if plan.overwrite else 'kept'}), {plan.extra} only in production (kept)"
    )


@click.command("restore-table")
@click.argument("source", required=False)
@click.option("--table", "tables", multiple=True, required=True, help="A table to recover (repeatable).")
@click.option(
    "--to",
    "to_time",
    metavar="TIME",
    help="Instead of a backup: the tables as they were at TIME (the cluster recovered beside the live one).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--overwrite", is_flag=True, help="Also replace rows that differ with the backup's version.")
@click.option(
    "--db",
    "database",
    default=None,
    help="Production database [default: $DB_NAME, else the one DATABASE_URL names].",
)
@deployment_option
@dir_option
@jobs_option
@json_option
def restore_table(
    source: str | None,
    tables: tuple[str, ...],
    to_time: str | None,
    dry_run: bool,
    overwrite: bool,
    database: str | None,
    target: DeploymentChoice,
    directory: Path | None,
    jobs: int,
    as_json: bool,
) -> None:
    """The guide's data-loss procedure: restore the backup into a separate database, then bring the named
    tables' lost rows (or a dropped table) back into production, in one transaction. With --to TIME
    instead of a backup, the rows as they were at that moment (point-in-time recovery, beside)."""
    if (source is None) == (to_time is None):
        raise click.UsageError("give a backup to take the rows from, or --to TIME")
    ctx = BackupContext.of(target.load(), directory)
    production = database or ctx.settings.backup.database or ctx.app.dbname
    if to_time is not None:
        from neurmatic.ops.flows.backups.pitr import Target
        from neurmatic.ops.flows.backups.point_in_time import recover_tables_to

        plans = recover_tables_to(
            ctx.deployment,
            Target.at_time(to_time),
            tables=list(tables),
            database=production,
            dry_run=dry_run,
            overwrite=overwrite,
            step=step,
        )
        _report_tables(plans, dry_run=dry_run, as_json=as_json)
        return
    assert source is not None
    plans = restore_tables(
        _local(ctx, source),
        admin=ctx.admin,
        production=production,
        owner=ctx.app.user,
        tables=list(tables),
        dry_run=dry_run,
        overwrite=overwrite,
        scratch_dir=ctx.safety_dir,
        step=step,
        jobs=jobs,
    )
    _report_tables(plans, dry_run=dry_run, as_json=as_json)


def _report_tables(plans: list[TablePlan], *, dry_run: bool, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "tables": [asdict(p) for p in plans]}, indent=2))
        return
    for plan in plans:
        err.print(("would: " if dry_run else "[green]✓[/] ") + _describe(plan), highlight=False)
    if dry_run:
        err.print("dry run: nothing was changed")
