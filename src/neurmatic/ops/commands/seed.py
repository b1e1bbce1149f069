"""``neurmatic seed --articles N --users M``: demo data for demos and benchmarks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.progress import Progress

from neurmatic.errors import ConfigurationError
from neurmatic.ops.commands.options import state_dir_option
from neurmatic.ops.flows.seed import DEMO_PASSWORD, seed
from neurmatic.settings import Settings
from neurmatic.supervisor.layout import Paths


@click.command("seed")
@click.option("--articles", type=click.IntRange(0, 1_000_000), default=1000, show_default=True)
@click.option("--users", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Settings file [default: the topology's app.env].",
)
@state_dir_option
def seed_command(articles: int, users: int, env_file: Path | None, state_dir: Path) -> None:
    """Fill the database with realistic users and published articles."""
    source = env_file or Paths(state_dir).app_env_file
    if not source.exists():
        raise ConfigurationError(
            f"no settings at {source}", hint="start the topology (`neurmatic up`) or pass --env-file"
        )
    settings = Settings.load(source)
    with Progress(transient=True) as bar:
        task = bar.add_task("seeding articles", total=articles)
        result = asyncio.run(
            seed(settings, users=users, articles=articles, progress=lambda n: bar.advance(task, n))
        )
    click.echo(f"seeded {result.users} users and {result.articles} articles (demo password: {DEMO_PASSWORD})")
