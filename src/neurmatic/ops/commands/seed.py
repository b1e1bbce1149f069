"""``neurmatic seed --articles N --users M``: demo data for demos and benchmarks."""

from __future__ import annotations

import asyncio

import click
from rich.progress import Progress

from neurmatic.ops.commands.options import DeploymentChoice, deployment_option
from neurmatic.ops.flows.seed import DEMO_PASSWORD, seed


@click.command("seed")
@click.option("--articles", type=click.IntRange(0, 1_000_000), default=1000, show_default=True)
@click.option("--users", type=click.IntRange(1, 100_000), default=100, show_default=True)
@deployment_option
def seed_command(articles: int, users: int, target: DeploymentChoice) -> None:
    """Fill the database with realistic users and published articles."""
    settings = target.load().settings
    with Progress(transient=True) as bar:
        task = bar.add_task("seeding articles", total=articles)
        result = asyncio.run(
            seed(settings, users=users, articles=articles, progress=lambda n: bar.advance(task, n))
        )
    click.echo(f"seeded {result.users} users and {result.articles} articles (demo password: {DEMO_PASSWORD})")
    for problem in result.unsettled:
        click.echo(f"warning: not vacuumed (autovacuum will do it later): {problem}", err=True)
