"""``neurmatic backup [list|verify|lifecycle|schedule]``, on the topology of --state-dir."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from neurmatic.backup_status import BackupStatus
from neurmatic.deployment.model import Deployment
from neurmatic.errors import ConfigurationError
from neurmatic.ops.commands.backup_context import dir_option, err, jobs_option, step
from neurmatic.ops.commands.backup_schedule import schedule
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option
from neurmatic.ops.flows.backups.context import BackupContext
from neurmatic.ops.flows.backups.dump import BackupOptions, create_backup
from neurmatic.ops.flows.backups.errors import BackupInvalid, S3Unavailable
from neurmatic.ops.flows.backups.files import Manifest, local_backups, manifest_path
from neurmatic.ops.flows.backups.record import record_failure, record_success
from neurmatic.ops.flows.backups.s3 import (
    apply_lifecycle,
    client_for,
    prune_remote,
    remote_backups,
    upload,
)
from neurmatic.ops.flows.backups.verify import verify_by_restore
from neurmatic.settings import AwsSettings, BackupSettings


def _to_s3(
    aws: AwsSettings, policy: BackupSettings, path: Path, manifest: Manifest
) -> tuple[str | None, S3Unavailable | None]:
    """Upload and prune remotely when a backup bucket is configured; an S3 failure keeps the local file."""
    if not aws.backup_bucket:
        return None, None
    client = client_for(aws)
    try:
        step(f"uploading to s3://{aws.backup_bucket}/database/")
        remote = upload(
            client,
            aws.backup_bucket,
            path,
            manifest,
            policy.s3_storage_class,
        )
        prune_remote(client, aws.backup_bucket, policy.s3_retention_days)
    except S3Unavailable as exc:
        return None, exc
    return remote, None


def _dump(ctx: BackupContext, options: BackupOptions, quiet: bool) -> tuple[Path, Manifest]:
    with Progress(
        TextColumn("dumping"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task("dump", total=None)
        return create_backup(ctx.app, ctx.directory, progress=lambda n: bar.advance(task, n), options=options)


@click.group(invoke_without_command=True)
@deployment_option
@dir_option
@json_option
@click.option(
    "--format",
    "dump_format",
    type=click.Choice(["plain", "directory"]),
    default="plain",
    show_default=True,
    help="plain: the guide's .sql.gz; directory: parallel pg_dump, faster for large databases.",
)
@click.option(
    "--compress",
    type=click.Choice(["zstd", "lz4", "gzip"]),
    default="zstd",
    show_default=True,
    help="Compression of the directory format.",
)
@jobs_option
@click.option("--verify", "then_verify", is_flag=True, help="Then run the restore test on the new backup.")
@click.option(
    "--physical",
    is_flag=True,
    help="A pgBackRest backup of the whole cluster (with the WAL archive: point-in-time recovery).",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["full", "diff", "incr"]),
    default="full",
    show_default=True,
    help="With --physical: full, differential (since the last full) or incremental (since the last).",
)
@click.pass_context
def backup(
    click_ctx: click.Context,
    target: DeploymentChoice,
    directory: Path | None,
    as_json: bool,
    dump_format: str,
    compress: str,
    jobs: int,
    then_verify: bool,
    physical: bool,
    kind: str,
) -> None:
    """Back up the database (verified, with a manifest); `backup list`, `backup verify` for the rest."""
    if click_ctx.invoked_subcommand is not None:
        return
    deployment = target.load()
    try:
        if physical:
            from neurmatic.ops.commands.pitr import physical_backup

            physical_backup(deployment, kind, as_json=as_json)
            return
        _logical_backup(
            deployment, directory, as_json, BackupOptions(dump_format, compress, jobs), then_verify
        )
    except Exception as exc:  # the BackupFailed alert (an operator's Ctrl-C is no failure: not caught)
        warning = record_failure(exc, deployment.settings.redis)
        if warning:
            err.print(f"[yellow]![/] {warning}")
        raise


def _logical_backup(
    deployment: Deployment, directory: Path | None, as_json: bool, options: BackupOptions, then_verify: bool
) -> None:
    ctx = BackupContext.of(deployment, directory)
    dump_format, compress = options.format, options.compress
    step(f"dumping {ctx.app.dbname} ({dump_format}{', ' + compress if dump_format == 'directory' else ''})")
    path, manifest = _dump(ctx, options, as_json)
    step(f"written and checked: {path.name}, sha256 {manifest.sha256[:12]}…")
    pruned = ctx.apply_retention(ctx.settings.backup.retention_days)
    for old in pruned:
        step(f"retention: removed {old.name}")
    verified = False
    if then_verify:
        verify_by_restore(path, admin=ctx.admin, owner=ctx.app.user, safety_dir=ctx.safety_dir, step=step)
        verified = True
    settings = ctx.settings
    remote, s3_error = _to_s3(settings.aws, settings.backup, path, manifest)
    status = BackupStatus(
        manifest.created_at,
        path.name,
        manifest.size,
        manifest.sha256,
        manifest.duration_seconds,
        verified,
        remote,
    )
    warning = record_success(status, ctx.directory, settings.redis)
    if as_json:
        body = {"path": str(path), "s3": remote, "verified": verified, "pruned": [str(p) for p in pruned]}
        click.echo(json.dumps({**body, **asdict(manifest)}, indent=2))
    else:
        err.print(
            f"[green]✓[/] backup {path} ({manifest.size / 1e6:.1f} MB, "
            f"{sum(manifest.tables.values())} rows in {len(manifest.tables)} tables, "
            f"{manifest.duration_seconds:.1f}s"
            f"{', restore-tested' if verified else ''})",
            highlight=False,
        )
    if remote:
        err.print(f"uploaded to {remote} (checksum verified)")
    if warning:
        err.print(f"[yellow]![/] {warning}")
    if s3_error is not None:
        raise s3_error


@backup.group("lifecycle")
def lifecycle() -> None:
    """The S3 lifecycle of the backup bucket."""


@lifecycle.command("apply")
@deployment_option
def lifecycle_apply(target: DeploymentChoice) -> None:
    """Put the guide's rule on the bucket: Glacier after 90 days, expiry after 365, abort stale uploads."""
    aws = BackupContext.of(target.load()).settings.aws
    if not aws.backup_bucket:
        raise ConfigurationError(
            "no backup bucket is configured", hint="set AWS_BACKUP_BUCKET (or S3_BUCKET)"
        )
    rule = apply_lifecycle(client_for(aws), aws.backup_bucket)
    click.echo(json.dumps(rule, indent=2))


@backup.command("list")
@deployment_option
@dir_option
@json_option
@click.option(
    "--physical", is_flag=True, help="pgBackRest's backups in each repository, and the WAL archive."
)
def list_backups(target: DeploymentChoice, directory: Path | None, as_json: bool, physical: bool) -> None:
    """Local and S3 backups, newest first."""
    if physical:
        from neurmatic.ops.commands.pitr import list_physical

        list_physical(target.load(), as_json=as_json)
        return
    ctx = BackupContext.of(target.load(), directory)
    rows: list[dict[str, Any]] = []
    for path in local_backups(ctx.directory):
        manifest = Manifest.read(manifest_path(path)) if manifest_path(path).exists() else None
        rows.append(
            {
                "path": str(path),
                "size": path.stat().st_size,
                "created_at": manifest.created_at if manifest else None,
                "format": manifest.format if manifest else None,
                "sha256": manifest.sha256 if manifest else None,
            }
        )
    aws = ctx.settings.aws
    remote: list[dict[str, Any]] = (
        [
            {"key": b.key, "size": b.size, "created_at": b.created.isoformat()}
            for b in remote_backups(client_for(aws), aws.backup_bucket)
        ]
        if aws.backup_bucket
        else []
    )
    if as_json:
        click.echo(json.dumps({"local": rows, "s3": remote}, indent=2))
        return
    for row in rows:
        click.echo(f"{row['created_at'] or '?':25} {row['size'] / 1e6:10.1f} MB  {row['path']}")
    for item in remote:
        click.echo(
            f"{item['created_at']:25} {item['size'] / 1e6:10.1f} MB  s3://{aws.backup_bucket}/{item['key']}"
        )


@backup.command("verify")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False), required=False)
@deployment_option
@dir_option
@jobs_option
@click.option(
    "--physical",
    is_flag=True,
    help="pgBackRest's verify, then the latest physical backup restored with all archived WAL replayed.",
)
def verify(
    source: Path | None, target: DeploymentChoice, directory: Path | None, jobs: int, physical: bool
) -> None:
    """The monthly restore test: restore into a scratch database, compare table list, row counts and
    per-table checksums with the manifest, drop it. Exit 0 pass, 13 fail, 11 invalid backup."""
    if physical:
        from neurmatic.ops.commands.pitr import verify_physical

        deployment = target.load()
        verify_physical(deployment, database=deployment.settings.backup.database or deployment.app.dbname)
        return
    ctx = BackupContext.of(target.load(), directory)
    chosen = source or next(iter(local_backups(ctx.directory)), None)
    if chosen is None:
        raise BackupInvalid(
            f"no backup to verify in {ctx.directory}",
            hint="make one with `neurmatic backup`, or name the file to verify",
        )
    result = verify_by_restore(
        chosen, admin=ctx.admin, owner=ctx.app.user, safety_dir=ctx.safety_dir, step=step, jobs=jobs
    )
    if manifest_path(chosen).exists():
        checked = "their row counts and checksums match the manifest"
    else:  # an older or foreign dump: it restores, but there is nothing to compare its rows with
        checked = "restored cleanly; no manifest beside it, so the rows were not compared"
    err.print(f"[green]✓[/] {chosen.name}: {len(result.tables)} tables, {checked}", highlight=False)


backup.add_command(schedule)
