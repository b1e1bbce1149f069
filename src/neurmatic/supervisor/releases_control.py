"""The local topology's control for deploys, rollbacks and scaling (``deployment/releases.py``'s
interface), over the supervisor's own classes.

Only mechanics live here: which file records what, how a service is started, how nginx is re-rendered
and reloaded, how a hold keeps the watcher away. The procedures that use them (what order, what counts
as healthy, what to do on failure) are in ``ops/flows/releases/``, the same for any platform.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from neurmatic.deployment.releases import BuiltRelease, Instance, Progress
from neurmatic.supervisor.layout import HOST, MAX_API_INSTANCES
from neurmatic.supervisor.release_build import build_release
from neurmatic.supervisor.services.app import ApiInstance, WorkerProcess
from neurmatic.supervisor.services.nginx import NginxBalancer
from neurmatic.supervisor.state import TopologyState, set_service_release

_API_PREFIX = "backend-"


def established_connections(port: int) -> int:
    """Open TCP connections to our ``port`` (nginx's, or anyone's)."""
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


class LocalReleases:
    """Releases under ``<state>/releases``, services supervised from the state dir, nginx in front."""

    worker = WorkerProcess.name
    max_instances = MAX_API_INSTANCES

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.location = str(state.paths.root)
        self.history_file = state.paths.release_history
        self.lock_file = state.paths.run / "deploy.lock"

    def build(self, version: str, source: Path, ref: str | None, progress: Progress) -> BuiltRelease:
        return build_release(self.state.paths, self.state.account, version, source, ref, progress)

    def has_release(self, version: str) -> bool:
        return self.state.paths.release_python(version).exists()

    def remove_release(self, version: str) -> None:
        shutil.rmtree(self.state.paths.release_dir(version), ignore_errors=True)

    def release_python(self, version: str) -> Path:
        return self.state.paths.release_python(version)

    def release_source(self, version: str) -> Path:
        return self.state.paths.release_dir(version) / "src"

    def instances(self) -> list[Instance]:
        return [self.instance(index) for index in range(1, self.state.api_instances + 1)]

    def instance(self, index: int) -> Instance:
        return Instance(f"{_API_PREFIX}{index}", index, f"{HOST}:{self.state.ports.api(index)}")

    def _service(self, name: str) -> ApiInstance | WorkerProcess:
        if name == self.worker:
            return WorkerProcess(self.state)
        if name.startswith(_API_PREFIX) and name[len(_API_PREFIX) :].isdigit():
            return ApiInstance(self.state, int(name[len(_API_PREFIX) :]))
        raise ValueError(f"{name!r} is neither an API instance nor the worker")

    def release_of(self, service: str) -> str | None:
        return self._service(service).release

    def record_release(self, service: str, version: str | None) -> None:
        set_service_release(self.state.paths, service, version)

    def is_running(self, service: str) -> bool:
        return self._service(service).running_pid() is not None

    def is_ready(self, service: str) -> bool:
        return self._service(service).status().state == "ready"

    @contextlib.contextmanager
    def hold(self, service: str) -> Iterator[None]:
        hold = self.state.paths.hold(service)
        hold.touch()
        try:
            yield
        finally:
            hold.unlink(missing_ok=True)

    def start(self, service: str) -> None:
        self._service(service).start()

    def wait_ready(self, service: str, timeout: float) -> None:
        self._service(service).wait_ready(timeout)

    def stop(self, service: str) -> None:
        self._service(service).stop()

    def open_connections(self, instance: Instance) -> int:
        return established_connections(self.state.ports.api(instance.index))

    def balancer_running(self) -> bool:
        return NginxBalancer(self.state, []).running_pid() is not None

    def route(self, indexes: Sequence[int], settle_timeout: float) -> bool:
        return NginxBalancer(self.state, sorted(indexes)).reload_settled(settle_timeout)

    def access_log(self) -> Path:
        return self.state.paths.nginx / "logs" / "access.log"

    def set_instance_count(self, count: int) -> None:
        from neurmatic.supervisor.services.monitoring import Prometheus

        self.state = self.state.with_api_instances(count)
        Prometheus(self.state).reload()  # scrape the instances that now exist, and only those
