"""``neurmatic top [--once] [--json] [--interval S] [--window 1m]``: the deployment at a glance, read
from Prometheus."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import click
from rich.live import Live

from neurmatic.adapters.prometheus import PrometheusApi
from neurmatic.errors import MonitoringUnavailable
from neurmatic.ops.commands.options import (
    DeploymentChoice,
    deployment_option,
    json_option,
    monitoring_option,
    monitoring_url,
    stdout_console,
)
from neurmatic.ops.commands.top_view import render, render_unreachable
from neurmatic.ops.flows.monitoring.snapshot import WINDOW, take_snapshot

console = stdout_console()


def _promql_duration(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"[1-9]\d*[smh]", value):
        raise click.BadParameter(f"{value!r} is not a PromQL duration such as 30s, 1m or 5m")
    return value


@click.command()
@deployment_option
@monitoring_option("prometheus")
@json_option
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    metavar="S",
    help="Seconds between refreshes of the live view.",
)
@click.option(
    "--window",
    default=WINDOW,
    show_default=True,
    callback=_promql_duration,
    help="The span rates, p95 and error ratios are taken over (a PromQL duration: 30s, 5m).",
)
def top(
    target: DeploymentChoice, server_url: str | None, as_json: bool, once: bool, interval: float, window: str
) -> None:
    """Every service's state, request rate, p95, errors, replication lag, queues, backup age and firing
    alerts, live from Prometheus (Ctrl-C quits); `--once` or `--json` print one snapshot."""
    prometheus = PrometheusApi(monitoring_url("prometheus", target, server_url))
    snapshot = take_snapshot(prometheus, window=window)  # the first one unreachable: an error and exit 18
    if as_json:
        click.echo(json.dumps(snapshot.as_json(), indent=2))
        return
    if once:
        console.print(render(snapshot))
        return
    last_answer = snapshot.taken_at
    try:
        with Live(render(snapshot), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                try:
                    snapshot = take_snapshot(prometheus, window=window)
                except MonitoringUnavailable as exc:  # keep watching: it may come back
                    live.update(
                        render_unreachable(prometheus.base_url, exc.message, last_answer), refresh=True
                    )
                    continue
                last_answer = datetime.now(UTC)
                live.update(render(snapshot), refresh=True)
    except KeyboardInterrupt:  # Ctrl-C is how one leaves a live view: not an abort
        return
