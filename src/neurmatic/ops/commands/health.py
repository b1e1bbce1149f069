"""``neurmatic health [--verbose] [--json]``: the whole stack's health, for people and for machines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from neurmatic.ops.commands.options import json_option, state_dir_option
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.monitoring.health import checks_for, report_json, run_checks, verdict
from neurmatic.supervisor.state import TopologyState

console = Console(soft_wrap=True)
MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}


@click.command()
@state_dir_option
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Show each check's detail and duration.")
@click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where backups are [default: $BACKUP_DIR or <state dir>/backups].",
)
def health(state_dir: Path, as_json: bool, verbose: bool, backup_dir: Path | None) -> None:
    """Check everything (each check with its own timeout). Exit 0 healthy, 14 degraded, 9 unhealthy."""
    state = TopologyState.load(state_dir)
    directory = backup_dir or Path(os.environ.get("BACKUP_DIR") or state.paths.root / "backups")
    results = run_checks(checks_for(state, directory))
    overall = verdict(results)
    if as_json:
        click.echo(json.dumps(report_json(results), indent=2))
    else:
        for result in results:
            line = f"{MARKS[result.status]} {result.name}"
            if verbose or result.status != "ok":
                line += f"  [dim]{result.detail} ({result.duration_ms:.0f} ms)[/]"
            console.print(line, highlight=False)
        console.print(f"overall: [bold]{overall}[/]")
    sys.exit({"healthy": ExitCode.OK, "degraded": ExitCode.DEGRADED}.get(overall, ExitCode.UNHEALTHY))
