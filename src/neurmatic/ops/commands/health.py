"""``neurmatic health [--verbose] [--json]``: the whole stack's health, for people and for machines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from neurmatic.health import Status, Verdict
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.monitoring.health import checks_for, overall, report_json, run_checks

console = Console(soft_wrap=True)
MARKS = {
    Status.UP: "[green]✓[/]",
    Status.NOT_CONFIGURED: "[dim]-[/]",
    Status.DEGRADED: "[yellow]![/]",
    Status.DOWN: "[red]✗[/]",
}


@click.command()
@deployment_option
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Show each check's detail and duration.")
@click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where backups are [default: $BACKUP_DIR, else the deployment's backup directory].",
)
def health(target: DeploymentChoice, as_json: bool, verbose: bool, backup_dir: Path | None) -> None:
    """Check everything (each check with its own timeout). Exit 0 healthy, 14 degraded, 9 unhealthy."""
    deployment = target.load()
    results = run_checks(checks_for(deployment, backup_dir or deployment.backup_dir))
    verdict = overall(results)
    if as_json:
        click.echo(json.dumps(report_json(results), indent=2))
    else:
        for result in results:
            line = f"{MARKS[result.status]} {result.name}"
            if verbose or result.status != Status.UP:
                line += f"  [dim]{result.detail} ({result.duration_ms:.0f} ms)[/]"
            console.print(line, highlight=False)
        console.print(f"overall: [bold]{verdict}[/]")
    sys.exit(
        {Verdict.HEALTHY: ExitCode.OK, Verdict.DEGRADED: ExitCode.DEGRADED}.get(verdict, ExitCode.UNHEALTHY)
    )
