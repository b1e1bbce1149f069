"""``neurmatic worker``: the worker's process, as the topology (or compose, or Kubernetes) runs it.

It lives with the worker, not in the operations kit: ``neurmatic.ops.cli`` lists it lazily by module
path, so ``neurmatic --help`` imports none of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from neurmatic.cli_options import env_file_option
from neurmatic.logging import configure_logging
from neurmatic.settings import Settings


@click.command()
@env_file_option
@click.option("--name", default="worker", show_default=True, help="This worker's name (its heartbeat key).")
@click.option(
    "--metrics-address",
    metavar="HOST:PORT",
    default=None,
    envvar="NEURMATIC_WORKER_METRICS_ADDRESS",
    help="Serve the worker's Prometheus metrics at http://HOST:PORT/metrics (default: none).",
)
def worker(env_file: Path | None, name: str, metrics_address: str | None) -> None:
    """Run the background job worker."""
    # The image sets PROMETHEUS_MULTIPROC_DIR for the API's uvicorn workers. The job worker is one
    # process that serves its own metrics: in multiprocess mode prometheus_client would write files to a
    # directory nobody made (the worker died of it in the compose stack), so it keeps them in memory.
    # Before anything imports prometheus_client, which reads the variable once, on import.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from neurmatic.secret_policy import check_secrets
    from neurmatic.sentry import init_sentry
    from neurmatic.worker.main import Worker

    settings = Settings.load(env_file)
    check_secrets(settings)
    configure_logging(name, settings.app.log_level)
    init_sentry(settings, "worker")
    metrics = None
    if metrics_address is not None:
        from neurmatic.worker.metrics import WorkerMetrics, parse_address

        try:
            address = parse_address(metrics_address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics-address") from exc
        metrics = WorkerMetrics()
        metrics.serve(address)
    Worker(settings, name, metrics).run()
