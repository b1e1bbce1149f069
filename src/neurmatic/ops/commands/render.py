"""``neurmatic render``: regenerate the committed production configs from the shared templates."""

from __future__ import annotations

from pathlib import Path

import click

from neurmatic.errors import ConfigurationError
from neurmatic.render.production import production_files


@click.command()
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(),
    show_default=True,
    help="The project root (infrastructure/ and the compose file are written under it).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 3 when a committed file is stale.")
def render(root: Path, check: bool) -> None:
    """Render infrastructure/ and docker-compose.production.yml from the shared templates.

    nginx, Redis, Sentinel, Patroni (PostgreSQL), pgBackRest, the Prometheus rules and Alertmanager."""
    stale = []
    for relative, text in production_files().items():
        path = root / relative
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(relative)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            click.echo(f"rendered {relative}")
    if check and stale:
        raise ConfigurationError(f"stale rendered configs: {', '.join(stale)}", hint="run `neurmatic render`")
    if not stale:
        click.echo("every rendered config is up to date")
