"""``neurmatic secrets generate``: a complete production env file with strong random secrets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from neurmatic.errors import ConfigurationError
from neurmatic.ops.flows.env_file import production_env_file
from neurmatic.private_files import write_private_file


@click.group()
def secrets() -> None:
    """Secrets for production."""


@secrets.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(".env.production"),
    show_default=True,
    help="Where to write the env file ('-' for standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file (its secrets are lost).")
@click.option("--api-url", default="https://api.neurmatic.com", show_default=True)
@click.option("--frontend-url", default="https://neurmatic.com", show_default=True)
def generate(out: Path, force: bool, api_url: str, frontend_url: str) -> None:
    """Write every variable of .env.production, each secret 64 random characters (mode 0600)."""
    text = production_env_file(api_url=api_url, frontend_url=frontend_url)
    if str(out) == "-":
        sys.stdout.write(text)
        return
    if out.exists() and not force:
        raise ConfigurationError(
            f"{out} exists; refusing to overwrite its secrets",
            hint="pass --force to replace it, or --out another path",
        )
    try:
        write_private_file(out, text)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {out}: {exc.strerror}", hint="choose a writable --out"
        ) from exc
    click.echo(f"wrote {out} (mode 0600, {len(text.splitlines())} lines); keep it out of git", err=True)
    if os.environ.get("CI") is None:
        click.echo("fill in the OAuth, SendGrid, AWS and Sentry values your deployment uses", err=True)
