"""``neurmatic mailcatcher``: the local SMTP catcher the topology runs as its ``mail`` service."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from neurmatic.logging import configure_logging


@click.command(hidden=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="SMTP port to listen on.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Store each received message here as an .eml file.",
)
def mailcatcher(host: str, port: int, directory: Path) -> None:
    """Accept every SMTP message and store it as an .eml file (development and tests only)."""
    from neurmatic.mail.catcher import serve

    configure_logging("mail")
    # aiosmtpd logs every SMTP command at INFO, recipients' addresses included.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(host, port, directory.absolute()))
