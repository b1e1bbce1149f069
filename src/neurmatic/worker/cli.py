"""``neurmatic worker``: the worker's process, as the topology (or compose, or Kubernetes) runs it.

It lives with the worker, not in the operations kit: ``neurmatic.ops.cli`` lists it lazily by module
path, so ``neurmatic --help`` imports none of it.
"""

from __future__ import annotations

from pathlib import Path

import click

from neurmatic.cli_options import env_file_option
from neurmatic.logging import configure_logging
from neurmatic.settings import Settings


@click.command()
@env_file_option
@click.option("--name", default="worker", show_default=True, help="This worker's name (its heartbeat key).")
def worker(env_file: Path | None, name: str) -> None:
    """Run the background job worker."""
    from neurmatic.secret_policy import check_secrets
    from neurmatic.sentry import init_sentry
    from neurmatic.worker.main import Worker

    settings = Settings.load(env_file)
    check_secrets(settings)
    configure_logging(name, settings.app.log_level)
    init_sentry(settings, "worker")
    Worker(settings, name).run()
