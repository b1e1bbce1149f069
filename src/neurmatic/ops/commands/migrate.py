"""``neurmatic migrate [--dry-run]``: the guide's ``prisma migrate deploy`` step, on any deployment."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from neurmatic.ops.commands.backup_context import err
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option


@click.command()
@deployment_option
@click.option("--dry-run", is_flag=True, help="Print the SQL the upgrade would run; change nothing.")
@click.option(
    "--allow-contract",
    is_flag=True,
    help="Also apply migrations that drop or narrow the schema (the running release may break).",
)
@json_option
def migrate(target: DeploymentChoice, dry_run: bool, allow_contract: bool, as_json: bool) -> None:
    """Bring the schema to head in one transaction; refuse (exit 22) anything but an expansion."""
    from neurmatic.db.migrate import MIGRATIONS_DIR, upgrade_sql
    from neurmatic.db.release_migrations import migrate_release
    from neurmatic.deployment.releases import SchemaNotExpandOnly

    deployment = target.load()
    url = deployment.database_url
    if dry_run:
        current, sql = upgrade_sql(url)
        if as_json:
            click.echo(json.dumps({"from": current, "sql": sql}, indent=2))
        else:
            err.print(f"[dim]•[/] at revision {current or '(empty database)'}; the upgrade would run:")
            click.echo(sql)
        return
    outcome = migrate_release(None, MIGRATIONS_DIR, url, check=not allow_contract)
    if outcome.refused:
        raise SchemaNotExpandOnly(
            "the migrations would drop or narrow the schema (rolled back, nothing changed): "
            + "; ".join(outcome.problems),
            hint="split the change: expand now, contract in a later release (or --allow-contract)",
        )
    if as_json:
        click.echo(json.dumps(asdict(outcome), indent=2))
    elif outcome.ahead:
        err.print(f"the database is at {outcome.from_revision}, ahead of this release: left alone")
    elif outcome.from_revision == outcome.to_revision:
        err.print(f"already at head ({outcome.to_revision})")
    else:
        err.print(
            f"[green]✓[/] migrated {outcome.from_revision or '(empty)'} → {outcome.to_revision} "
            f"in {outcome.duration_seconds:.1f}s"
        )
