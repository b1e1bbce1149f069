"""``neurmatic drill SCENARIO``: the guide's quarterly DR drill, run for real against the topology.

It kills real processes, so it asks first unless ``--yes``; it needs the deployment's platform for that
(its ``DrillControl``), and a deployment without one is refused with exit 3 before anything happens. It
always writes its report (JSON and Markdown in ``<state>/drills/``) and exits 0 when the system recovered
within the objectives, 16 (OBJECTIVE_MISSED) when it did not recover, missed the RTO or RPO, or a check
failed.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from neurmatic.ops.commands.options import DeploymentChoice, confirm, deployment_option, json_option
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.drills.context import DrillOptions
from neurmatic.ops.flows.drills.load import LoadOptions
from neurmatic.ops.flows.drills.registry import get_scenario, scenario_names, scenario_summaries
from neurmatic.ops.flows.drills.runner import run_drill

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _scenarios_help() -> str:
    return "\n\n".join(f"{name}: {text}" for name, text in scenario_summaries().items())


@click.command(epilog="Scenarios:\n\n" + _scenarios_help())
@click.argument("scenario", type=click.Choice(scenario_names()))
@deployment_option
@json_option
@click.option(
    "--duration",
    type=click.FloatRange(15, 4 * 3600),
    default=180.0,
    show_default=True,
    help="Upper bound of the load, and so of every wait for recovery (seconds).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.5, 20),
    default=4.0,
    show_default=True,
    help="Writes per second through nginx, and as many reads (nginx allows 10 requests/s per client).",
)
@click.option(
    "--rto",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="RTO objective in seconds [default: $DR_RTO_SECONDS or 14400].",
)
@click.option(
    "--rpo",
    type=click.FloatRange(min=0),
    default=None,
    help="RPO objective in seconds [default: $DR_RPO_SECONDS or 86400].",
)
@click.option("--yes", is_flag=True, help="Do not ask before killing processes of the topology.")
def drill(
    scenario: str,
    target: DeploymentChoice,
    as_json: bool,
    duration: float,
    rate: float,
    rto: float | None,
    rpo: float | None,
    yes: bool,
) -> None:
    """Rehearse a disaster under load; measure RTO, RPO and failed requests; write a report."""
    deployment = target.load()
    control = deployment.platform.drills()  # a deployment without a platform refuses here (exit 3)
    chosen = get_scenario(scenario)
    confirm(
        f"The {scenario} drill kills processes of the topology in {control.location} under load. Go on?",
        yes=yes,
    )
    objectives = deployment.settings.dr  # the environment, then the deployment's env file
    options = DrillOptions(
        load=LoadOptions(rate=rate, duration=duration),
        rto_objective=rto if rto is not None else objectives.rto_seconds,
        rpo_objective=rpo if rpo is not None else objectives.rpo_seconds,
    )
    progress = (
        (lambda _msg: None) if as_json else (lambda msg: err.print(f"[dim]•[/] {msg}", highlight=False))
    )
    report = run_drill(deployment, control, chosen, options, progress=progress)
    if as_json:
        click.echo(json.dumps({**report.as_json(), "files": [str(p) for p in report.files]}, indent=2))
    else:
        for line in report.summary_lines():
            console.print(line, highlight=False, markup=False)
        console.print(f"report: {report.files[-1]}", highlight=False, markup=False)
    sys.exit(ExitCode.OK if report.passed else ExitCode.OBJECTIVE_MISSED)
