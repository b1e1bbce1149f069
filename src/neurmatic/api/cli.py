"""``neurmatic api``: the API's process (uvicorn and its workers), as the topology (or compose, or
Kubernetes) runs it.

It lives with the API, not in the operations kit, so no ops module imports the web layer;
``neurmatic.ops.cli`` lists it lazily by module path, and ``neurmatic --help`` imports none of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from neurmatic.cli_options import env_file_option
from neurmatic.logging import configure_logging
from neurmatic.settings import Settings

# How long an idle connection stays open. Longer than nginx keeps its idle upstream connections (60 s,
# templates/nginx.conf.j2): with uvicorn's default of 5 s, nginx now and then sent a request on a
# connection the API was closing, and a sign-in (a POST, never retried) got 502 under load.
KEEP_ALIVE_SECONDS = 75


@click.command()
@env_file_option
@click.option("--host", default=None, help="Address to bind [default: API_HOST or 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to bind [default: PORT or 3000].")
@click.option("--instance", default=None, help="This instance's name, reported by /api/v1/health.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: WEB_CONCURRENCY or 1].",
)
def api(
    env_file: Path | None, host: str | None, port: int | None, instance: str | None, workers: int | None
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    from neurmatic.api.factory import (
        ENV_FILE_VARIABLE,
        FACTORY,
        MANAGER_PID_VARIABLE,
        prepare_metrics_dir,
    )
    from neurmatic.api.http_protocol import HttpToolsTurnBuffered
    from neurmatic.secret_policy import check_secrets

    settings = Settings.load(env_file)
    check_secrets(settings)  # here, once, with a clear exit: not in each worker, which uvicorn restarts
    # Each worker builds its own settings and app (api.factory): what it must know goes by environment.
    if instance:
        os.environ["NEURMATIC_INSTANCE"] = settings.app.instance = instance
    if env_file is not None:
        os.environ[ENV_FILE_VARIABLE] = str(env_file.resolve())
    processes = workers or settings.app.web_concurrency
    if settings.app.metrics_dir is not None:
        # prometheus_client chooses per-process metric files when it is imported, from the environment.
        prepare_metrics_dir(settings.app.metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.app.metrics_dir)
    if processes > 1:
        os.environ[MANAGER_PID_VARIABLE] = str(os.getpid())
    configure_logging(settings.app.instance, settings.app.log_level)
    uvicorn.run(
        FACTORY,
        factory=True,
        workers=processes,
        host=host or settings.app.host,
        port=port or settings.app.port,
        log_config=None,
        http=HttpToolsTurnBuffered,
        proxy_headers=False,  # the app applies them itself (ForwardedHeaders), remembering trust per address
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        access_log=False,
    )
