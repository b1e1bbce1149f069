"""The app as uvicorn's worker processes build it: ``neurmatic.api.factory:app_from_environment``.

With ``WEB_CONCURRENCY`` above 1, ``neurmatic api`` runs a uvicorn manager that spawns fresh worker
interpreters; an app object cannot be handed to them, only an import string. Each worker calls this
factory, which builds the settings again from what ``neurmatic api`` put in the environment: the env
file's path (``NEURMATIC_ENV_FILE``) and the instance name (``NEURMATIC_INSTANCE``, a setting itself).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette

from neurmatic.logging import configure_logging
from neurmatic.settings import Settings

ENV_FILE_VARIABLE = "NEURMATIC_ENV_FILE"
MANAGER_PID_VARIABLE = "NEURMATIC_API_MANAGER_PID"  # set by `neurmatic api` when it runs several workers
FACTORY = "neurmatic.api.factory:app_from_environment"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def app_from_environment() -> FastAPI:
    """Build the settings and the app in this (worker) process."""
    from neurmatic.api.app import create_app

    stop_with_manager()
    env_file = os.environ.get(ENV_FILE_VARIABLE)
    settings = Settings.load(Path(env_file) if env_file else None)
    configure_logging(settings.app.instance, settings.app.log_level)
    app = create_app(settings)
    _forget_metrics_after_shutdown(app)
    return app


def _forget_metrics_after_shutdown(app: FastAPI) -> None:
    """Once the app's own lifespan has shut down, drop this worker's live gauges from the instance's
    metrics (a worker that is killed instead is forgotten at the next scrape)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Starlette) -> AsyncIterator[Any]:
        async with inner(target) as state:
            yield state
        app.state.metrics.process_stopped()

    app.router.lifespan_context = lifespan


def prepare_metrics_dir(path: Path) -> None:
    """Create the instance's metrics directory and forget the files of its previous run: counters start
    again at 0, as a restarted single process's would (Prometheus reads that as a counter reset). Here,
    not in api.metrics: prometheus_client must not be imported before the directory is in the
    environment."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def manager_pid() -> int | None:
    """The uvicorn manager this process is a worker of, or None when it serves on its own."""
    value = os.environ.get(MANAGER_PID_VARIABLE, "")
    return int(value) if value.isdigit() else None


def stop_with_manager() -> None:
    """Ask the kernel for a SIGTERM when the manager dies, however it dies.

    A manager that is SIGKILLed (an OOM kill, a crash drill, a supervisor's last resort) cannot stop its
    workers; orphans would keep serving on the inherited socket, hold the port against the instance's
    restart, and run code of a release that is gone. A SIGTERM stops them as the manager would have.
    """
    parent = manager_pid()
    if parent is None or os.getppid() != parent:
        if parent is not None:  # the manager died before we could ask: stop now
            os.kill(os.getpid(), signal.SIGTERM)
        return
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the supervisor's group kill remains
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died between the two checks
        os.kill(os.getpid(), signal.SIGTERM)
