"""``neurmatic backup [list|verify]`` and ``neurmatic restore SOURCE``, on the topology of --state-dir."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from neurmatic.db.migrate import upgrade_to_head
from neurmatic.db.url import DatabaseUrl
from neurmatic.ops.commands.options import json_option, state_dir_option
from neurmatic.ops.flows.backup import create_backup
from neurmatic.ops.flows.backup_files import Manifest, local_backups, manifest_path
from neurmatic.ops.flows.backup_s3 import (
    S3Unavailable,
    apply_lifecycle,
    client_for,
    download,
    prune_local,
    prune_remote,
    remote_backups,
    upload,
)
from neurmatic.ops.flows.pg_access import PgTarget
from neurmatic.ops.flows.restore import restore_backup
from neurmatic.settings import Settings
from neurmatic.supervisor.layout import DATABASE_NAME, HOST, SUPERUSER
from neurmatic.supervisor.state import TopologyState, read_env_file

err = Console(stderr=True, soft_wrap=True)
dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Backup directory [default: $BACKUP_DIR or <state dir>/backups].",
)


def _targets(state: TopologyState) -> tuple[PgTarget, PgTarget]:
    """(the application role, the administrator) on whichever node is the primary now."""
    app = PgTarget.from_url(DatabaseUrl.parse(read_env_file(state.paths.app_env_file)["DATABASE_URL"]))
    hosts = tuple((HOST, state.ports.postgres(i)) for i in (1, 2))
    admin = PgTarget(hosts, SUPERUSER, state.secrets["POSTGRES_SUPERUSER_PASSWORD"], "postgres")
    return app, admin


def _days(variable: str, default: int) -> int:
    return int(os.environ.get(variable) or default)


def _settings(state: TopologyState) -> Settings:
    """The topology's settings, with the process environment (AWS_*, S3_BUCKET, ...) taking precedence."""
    return Settings.load(state.paths.app_env_file)


def _to_s3(state: TopologyState, path: Path, manifest: Manifest) -> tuple[str | None, S3Unavailable | None]:
    """Upload and prune remotely when a backup bucket is configured; an S3 failure keeps the local file."""
    aws = _settings(state).aws
    if not aws.backup_bucket:
        return None, None
    client = client_for(aws)
    try:
        remote = upload(
            client,
            aws.backup_bucket,
            path,
            manifest,
            os.environ.get("BACKUP_S3_STORAGE_CLASS") or "STANDARD_IA",
        )
        prune_remote(client, aws.backup_bucket, _days("BACKUP_S3_RETENTION_DAYS", 90))
    except S3Unavailable as exc:
        return None, exc
    return remote, None


def _directory(option: Path | None, state: TopologyState) -> Path:
    return option or Path(os.environ.get("BACKUP_DIR") or state.paths.root / "backups")


@click.group(invoke_without_command=True)
@state_dir_option
@dir_option
@json_option
@click.pass_context
def backup(ctx: click.Context, state_dir: Path, directory: Path | None, as_json: bool) -> None:
    """Back up the database (verified, with a manifest); `backup list`, `backup verify` for the rest."""
    if ctx.invoked_subcommand is not None:
        return
    state = TopologyState.load(state_dir)
    app, _ = _targets(state)
    target_dir = _directory(directory, state)
    with Progress(
        TextColumn("dumping"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("dump", total=None)
        path, manifest = create_backup(app, target_dir, progress=lambda n: bar.advance(task, n))
    pruned = prune_local(local_backups(target_dir), _days("BACKUP_RETENTION_DAYS", 30))
    remote, s3_error = _to_s3(state, path, manifest)
    if as_json:
        click.echo(
            json.dumps(
                {"path": str(path), "s3": remote, "pruned": [str(p) for p in pruned], **asdict(manifest)},
                indent=2,
            )
        )
    else:
        err.print(
            f"backup {path} ({manifest.size / 1e6:.1f} MB, {sum(manifest.tables.values())} rows in "
            f"{len(manifest.tables)} tables, {manifest.duration_seconds:.1f}s, "
            f"sha256 {manifest.sha256[:12]}…)"
        )
    if remote:
        err.print(f"uploaded to {remote} (checksum verified)")
    if s3_error is not None:
        raise s3_error


@backup.group("lifecycle")
def lifecycle() -> None:
    """The S3 lifecycle of the backup bucket."""


@lifecycle.command("apply")
@state_dir_option
def lifecycle_apply(state_dir: Path) -> None:
    """Put the guide's rule on the bucket: Glacier after 90 days, expiry after 365, abort stale uploads."""
    aws = _settings(TopologyState.load(state_dir)).aws
    if not aws.backup_bucket:
        raise click.ClickException("no backup bucket: set AWS_BACKUP_BUCKET (or S3_BUCKET)")
    rule = apply_lifecycle(client_for(aws), aws.backup_bucket)
    click.echo(json.dumps(rule, indent=2))


@backup.command("list")
@state_dir_option
@dir_option
@json_option
def list_backups(state_dir: Path, directory: Path | None, as_json: bool) -> None:
    """Local backups, newest first."""
    target_dir = _directory(directory, TopologyState.load(state_dir))
    rows: list[dict[str, Any]] = []
    for path in local_backups(target_dir):
        manifest = Manifest.read(manifest_path(path)) if manifest_path(path).exists() else None
        rows.append(
            {
                "path": str(path),
                "size": path.stat().st_size,
                "created_at": manifest.created_at if manifest else None,
                "sha256": manifest.sha256 if manifest else None,
            }
        )
    aws = _settings(TopologyState.load(state_dir)).aws
    remote = (
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


@backup.command("verify")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False), required=False)
@state_dir_option
@dir_option
def verify(source: Path | None, state_dir: Path, directory: Path | None) -> None:
    """The monthly restore test: restore into a scratch database, compare with the manifest, drop it."""
    state = TopologyState.load(state_dir)
    app, admin = _targets(state)
    chosen = source or next(iter(local_backups(_directory(directory, state))), None)
    if chosen is None:
        raise click.ClickException("no backup to verify; make one with `neurmatic backup`")
    scratch = f"neurmatic_verify_{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
    try:
        result = restore_backup(
            chosen,
            admin=admin,
            database=scratch,
            owner=app.user,
            yes=False,
            safety_dir=_directory(directory, state) / "safety",
            step=lambda m: err.print(f"[dim]•[/] {m}"),
        )
    finally:
        with admin.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
    err.print(
        f"[green]✓[/] {chosen.name}: {len(result.tables)} tables and their row counts match the manifest"
    )


@click.command()
@click.argument("source")
@click.option(
    "--db", "database", default=None, help="Target database [default: $DB_NAME or neurmatic_production]."
)
@click.option("--yes", is_flag=True, help="Replace a non-empty target (a safety dump is taken first).")
@state_dir_option
@dir_option
def restore(source: str, database: str | None, yes: bool, state_dir: Path, directory: Path | None) -> None:
    """Restore a backup (a path or s3://…): verified first, restored beside the target, then swapped in."""
    state = TopologyState.load(state_dir)
    app, admin = _targets(state)
    name = database or os.environ.get("DB_NAME") or DATABASE_NAME
    backup_file = Path(source)
    if source.startswith("s3://"):
        err.print(f"[dim]•[/] downloading {source}")
        backup_file = download(
            client_for(_settings(state).aws), source, _directory(directory, state) / "downloads"
        )
    result = restore_backup(
        backup_file,
        admin=admin,
        database=name,
        owner=app.user,
        yes=yes,
        safety_dir=_directory(directory, state) / "safety",
        step=lambda m: err.print(f"[dim]•[/] {m}"),
    )
    err.print("[dim]•[/] migrations: upgrading the restored schema to head")
    # As the administrator acting as the owner role: the application role may only reach its own database.
    upgrade_to_head(
        DatabaseUrl(
            admin.user,
            admin.password,
            list(admin.hosts),
            name,
            {"target_session_attrs": "read-write", "options": f"-c role={app.user}"},
        )
    )
    safety = f"; safety dump {result.safety_backup}" if result.safety_backup else ""
    err.print(f"[green]✓[/] restored {backup_file.name} into {name}: {len(result.tables)} tables{safety}")


COMMANDS = (backup, restore)
