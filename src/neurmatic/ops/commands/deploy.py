"""``neurmatic deploy | rollback | releases | scale api N``: releases and capacity, with no downtime."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from neurmatic.deployment.model import Deployment
from neurmatic.deployment.releases import DeployFailed, ReleaseControl
from neurmatic.ops.commands.options import DeploymentChoice, confirm, deployment_option, json_option
from neurmatic.ops.flows.monitoring.notify import SlackNotifier
from neurmatic.ops.flows.releases.deploy import deploy as deploy_flow
from neurmatic.ops.flows.releases.deploy import project_repository
from neurmatic.ops.flows.releases.history import INSTALLED, ReleaseHistory, label
from neurmatic.ops.flows.releases.rollback import rollback as rollback_flow
from neurmatic.ops.flows.releases.rolling import RolloutOptions
from neurmatic.ops.flows.releases.scaling import MIN_API_INSTANCES, scale_api

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _progress(message: str) -> None:
    err.print(f"[dim]•[/] {message}", highlight=False)


def _release_control(target: DeploymentChoice) -> tuple[Deployment, ReleaseControl]:
    """The deployment and its platform's release control; refused (exit 3) before anything happens when
    the deployment has no platform (an env file)."""
    deployment = target.load()
    return deployment, deployment.platform.releases()


def _notifier(deployment: Deployment) -> SlackNotifier:
    """From SLACK_WEBHOOK_URL in the environment (or the deployment's env file)."""
    return SlackNotifier.from_settings(deployment.settings.notifications)


def _options(ready_timeout: float, drain_timeout: float) -> RolloutOptions:
    return RolloutOptions(ready_timeout=ready_timeout, drain_timeout=drain_timeout)


ready_timeout_option = click.option(
    "--ready-timeout",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds a new instance has to answer /health/ready before the switch is rolled back.",
)
drain_timeout_option = click.option(
    "--drain-timeout",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="Seconds requests in flight get before an instance is stopped.",
)


@click.command()
@click.argument("version")
@click.option(
    "--source",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A git repository (VERSION or --ref is exported) or a source directory [default: this project].",
)
@click.option("--ref", default=None, help="The git ref to deploy [default: VERSION].")
@ready_timeout_option
@drain_timeout_option
@deployment_option
@json_option
def deploy(
    version: str,
    source: Path | None,
    ref: str | None,
    ready_timeout: float,
    drain_timeout: float,
    target: DeploymentChoice,
    as_json: bool,
) -> None:
    """Deploy VERSION: backup, build beside the others, expand-only migrations, one instance at a time."""
    deployment, control = _release_control(target)
    chosen = source or project_repository()
    if chosen is None:
        raise DeployFailed("no --source given and the installed package is not in a git repository")
    record = deploy_flow(
        deployment,
        control,
        version,
        source=chosen.absolute(),
        ref=ref,
        options=_options(ready_timeout, drain_timeout),
        notifier=_notifier(deployment),
        progress=_progress,
    )
    if as_json:
        click.echo(json.dumps(asdict(record), indent=2))
    else:
        total = record.durations.get("total", 0.0)
        console.print(f"[green]✓[/] {version} deployed in {total:.1f}s (was {label(record.replaced)})")


@click.command()
@click.argument("version", required=False)
@click.option(
    "--restore-db", is_flag=True, help="Also restore the backup taken before the deploy (data loss!)."
)
@click.option("--yes", is_flag=True, help="Do not ask before restoring the database.")
@ready_timeout_option
@drain_timeout_option
@deployment_option
@json_option
def rollback(
    version: str | None,
    restore_db: bool,
    yes: bool,
    ready_timeout: float,
    drain_timeout: float,
    target: DeploymentChoice,
    as_json: bool,
) -> None:
    """Go back to the previous release (or VERSION), one instance at a time."""
    deployment, control = _release_control(target)
    if restore_db:
        confirm("Restore the database from the pre-deploy backup? Every write made since is lost", yes=yes)
    outcome = rollback_flow(
        deployment,
        control,
        version,
        restore_db=restore_db,
        options=_options(ready_timeout, drain_timeout),
        notifier=_notifier(deployment),
        progress=_progress,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        console.print(
            f"[green]✓[/] rolled back from {label(outcome.left)} to {label(outcome.now)} "
            f"in {outcome.duration_seconds:.1f}s"
        )


@click.command()
@deployment_option
@json_option
def releases(target: DeploymentChoice, as_json: bool) -> None:
    """The release history, newest first; the current one is marked."""
    _, control = _release_control(target)
    history = ReleaseHistory.load(control.history_file)
    rows = [
        {**asdict(record), "current": record.version == history.current}
        for record in reversed(history.records)
    ]
    if as_json:
        click.echo(json.dumps({"current": history.current, "releases": rows}, indent=2))
        return
    if history.current is None:
        console.print(f"current: {INSTALLED}")
    for row in rows:
        marker = "*" if row["current"] else " "
        commit = (row["commit"] or "-")[:12]
        when = row["deployed_at"] or row["created_at"]
        console.print(
            f"{marker} {row['version']:<20} {commit:<12} {when:<25} {row['status']}", highlight=False
        )


def _check_within(count: int, most: int) -> None:
    """COUNT within 2 and the platform's most instances (known once the deployment is loaded), refused
    as click refuses an argument out of range: the same usage error, exit 2."""
    ctx = click.get_current_context()
    param = next(p for p in ctx.command.params if p.name == "count")
    click.IntRange(MIN_API_INSTANCES, most).convert(count, param, ctx)


@click.group()
def scale() -> None:
    """Capacity: how many API instances run behind nginx."""


@scale.command("api")
@click.argument("count", type=int)
@ready_timeout_option
@drain_timeout_option
@deployment_option
@json_option
def scale_api_command(
    count: int, ready_timeout: float, drain_timeout: float, target: DeploymentChoice, as_json: bool
) -> None:
    """Run COUNT API instances: new ones start before nginx sends them traffic; removed ones drain first."""
    _, control = _release_control(target)
    _check_within(count, control.max_instances)
    outcome = scale_api(
        control,
        count,
        options=_options(ready_timeout, drain_timeout),
        progress=_progress,
    )
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        console.print(f"[green]✓[/] {outcome.after} API instances (were {outcome.before})")
