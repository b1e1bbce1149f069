"""Our own processes: the API instances (``backend-N``) and the job worker.

They run ``python -m neurmatic`` and read the topology's ``app.env``; they are the services the watcher
restarts when they crash. The interpreter is the one of the release the service runs
(``releases/<version>/venv``, recorded per service by deploys) or, before any deploy, the supervisor's own.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.adapters.probes import ProbeError, http_status, redis_call
from neurmatic.domain.heartbeat import heartbeat_key
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.process import is_running, terminate
from neurmatic.supervisor.service import Service
from neurmatic.supervisor.state import TopologyState, service_releases

if TYPE_CHECKING:
    from neurmatic.settings import Settings


def app_settings(state: TopologyState) -> Settings:
    """The settings the API and the worker of this topology run with."""
    from neurmatic.settings import Settings

    return Settings.from_mapping(read_env_file(state.paths.app_env_file))


class _PythonProcess(Service):
    """A ``python -m neurmatic`` process run as the service account, which must reach the interpreter."""

    @property
    def release(self) -> str | None:
        """The release this service runs (None: the installed package), as recorded now."""
        return service_releases(self.paths).get(self.name)

    def interpreter(self) -> Path:
        release = self.release
        return self.paths.release_python(release) if release else Path(sys.executable)

    def start(self) -> int:
        self.state.account.check_can_execute(self.interpreter())
        return super().start()

    def stop(self) -> None:
        """Forget the pid first, so the watcher never takes the process exiting for a crash to restart."""
        entry = self.pidfile.read()
        self.pidfile.remove()
        if entry and is_running(*entry):
            terminate(entry[0], grace=self.stop_grace, sig=self.stop_signal)


class ApiInstance(_PythonProcess):
    restartable = True
    stop_grace = 15.0
    ready_timeout = 60.0

    def __init__(self, state: TopologyState, index: int) -> None:
        self.index = index
        self.name = f"backend-{index}"
        super().__init__(state)

    @property
    def port(self) -> int:
        return self.state.ports.api(self.index)

    def command(self) -> list[str]:
        return [
            str(self.interpreter()),
            "-m",
            "neurmatic",
            "api",
            "--env-file",
            str(self.paths.app_env_file),
            "--instance",
            self.name,
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]

    @property
    def metrics_dir(self) -> Path:
        return self.paths.metrics_dir(self.name)

    def environment(self) -> dict[str, str]:
        # Per instance, so not in the shared app.env: its workers' metric files (see api.metrics).
        return {**super().environment(), "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)}

    def start(self) -> int:
        """Start with an empty metrics directory: the files of the previous run's workers would add
        their counts (and their live gauges) to the new one's."""
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.metrics_dir.glob("*.db"):
            stale.unlink(missing_ok=True)
        self.state.account.own(self.metrics_dir.parent)
        return super().start()

    def probe(self) -> bool:
        return http_status(HOST, self.port, "/api/v1/health/ready") == 200

    def role(self) -> str:
        return "api"


class WorkerProcess(_PythonProcess):
    name = "worker"
    restartable = True
    stop_grace = 30.0  # a job in progress gets time to finish
    ready_timeout = 60.0

    @property
    def port(self) -> None:
        return None

    def start(self) -> int:
        """A stopped or killed worker's heartbeat lives on for 15 s: forget it first, so that "ready" is
        this process's own (for `up`, the watcher and deploys alike)."""
        import redis

        with contextlib.suppress(redis.RedisError):  # an unreachable Redis shows in the readiness probe
            self.forget_heartbeat()
        return super().start()

    def command(self) -> list[str]:
        return [
            str(self.interpreter()),
            "-m",
            "neurmatic",
            "worker",
            "--env-file",
            str(self.paths.app_env_file),
            "--name",
            self.name,
        ]

    def environment(self) -> dict[str, str]:
        # From the environment, not the argv: a release from before the option ignores it (a rollback).
        address = f"{HOST}:{self.state.ports.worker_metrics}"
        return {**super().environment(), "NEURMATIC_WORKER_METRICS_ADDRESS": address}

    def bound_ports(self) -> list[int]:
        return [self.state.ports.worker_metrics]

    def probe(self) -> bool:
        """Its heartbeat is on the master: the one the first Sentinel that answers names, as the worker
        finds it (RESP spoken directly: `status` stays light)."""
        secrets = self.state.secrets
        for index in (1, 2, 3):
            try:
                (address,) = redis_call(
                    HOST,
                    self.state.ports.sentinel(index),
                    secrets["REDIS_SENTINEL_PASSWORD"],
                    ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME),
                )
            except (OSError, ProbeError):  # that Sentinel is down: ask the next
                continue
            if isinstance(address, list) and len(address) == 2:
                host, port = str(address[0]), int(str(address[1]))
                (exists,) = redis_call(
                    host, port, secrets["REDIS_PASSWORD"], ("EXISTS", heartbeat_key(self.name))
                )
                return exists == 1
        return False

    def forget_heartbeat(self) -> None:
        """Delete the stopped worker's heartbeat, so readiness is the next worker's own (it lives 15 s)."""
        from neurmatic.adapters.redis import sync_master

        client = sync_master(app_settings(self.state).redis)
        try:
            client.delete(heartbeat_key(self.name))
        finally:
            client.close()

    def role(self) -> str:
        return "worker"
