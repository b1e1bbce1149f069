"""``neurmatic scale api N``: the guide's "Scaling Backend Instances", on the local topology.

Adding: start ``backend-K`` (port ``base+300+K``) from the current release and await readiness; only then
persist the count (so ``status``, ``down``, health checks and the watcher know it) and put it in nginx's
upstream with a graceful reload. Removing: take the surplus out of the upstream first, let their requests
drain, then stop them and persist the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from neurmatic.errors import TopologyError
from neurmatic.ops.flows.releases.context import preflight
from neurmatic.ops.flows.releases.errors import DeployFailed
from neurmatic.ops.flows.releases.history import ReleaseHistory, exclusive, label
from neurmatic.ops.flows.releases.rolling import RolloutOptions, established_connections
from neurmatic.polling import poll
from neurmatic.supervisor.layout import MAX_API_INSTANCES
from neurmatic.supervisor.services.app import ApiInstance
from neurmatic.supervisor.services.nginx import NginxBalancer
from neurmatic.supervisor.state import TopologyState, set_service_release

Progress = Callable[[str], None]
MIN_API_INSTANCES = 2  # the guide's floor: one instance may always be out for a deploy


@dataclass(frozen=True)
class ScaleOutcome:
    before: int
    after: int
    release: str | None
    duration_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "before": self.before,
            "after": self.after,
            "release": self.release,
            "duration_seconds": self.duration_seconds,
        }


def scale_api(
    state: TopologyState, count: int, *, options: RolloutOptions, progress: Progress
) -> ScaleOutcome:
    if not MIN_API_INSTANCES <= count <= MAX_API_INSTANCES:
        raise DeployFailed(f"{count} API instances: choose {MIN_API_INSTANCES} to {MAX_API_INSTANCES}")
    with exclusive(state.paths, "scale"):
        started = time.monotonic()
        before = state.api_instances
        release = ReleaseHistory.load(state.paths).current
        preflight(state)
        if count > before:
            _add(state, range(before + 1, count + 1), release, options, progress)
        elif count < before:
            _remove(state, range(count + 1, before + 1), options, progress)
        else:
            progress(f"already {count} API instances")
        return ScaleOutcome(before, count, release, round(time.monotonic() - started, 3))


def _add(
    state: TopologyState, indexes: range, release: str | None, options: RolloutOptions, progress: Progress
) -> None:
    started: list[ApiInstance] = []
    try:
        for index in indexes:
            api = ApiInstance(state, index)
            hold = state.paths.hold(api.name)
            hold.touch()
            try:
                set_service_release(state.paths, api.name, release)
                began = time.monotonic()
                api.start()
                started.append(api)
                api.wait_ready(options.ready_timeout)
            finally:
                hold.unlink(missing_ok=True)
            progress(f"{api.name}: started on {label(release)}, ready in {time.monotonic() - began:.1f}s")
    except TopologyError as exc:  # not ready, or its port is taken: undo what was started
        for api in started:
            api.stop()
        for index in indexes:
            set_service_release(state.paths, f"backend-{index}", None)
        raise DeployFailed(f"scaling up failed: {exc.message}", hint=exc.hint) from exc
    grown = state.with_api_instances(indexes[-1])
    _reload(grown, options, progress)


def _remove(state: TopologyState, indexes: range, options: RolloutOptions, progress: Progress) -> None:
    kept = state.api_instances - len(indexes)
    _reload(state, options, progress, members=list(range(1, kept + 1)))
    for index in reversed(indexes):
        api = ApiInstance(state, index)
        poll(
            partial(established_connections, api.port),
            timeout=options.drain_timeout,
            interval=0.05,
            done=lambda n: not n,
            catch=(),
        )
        api.stop()
        set_service_release(state.paths, api.name, None)
        progress(f"{api.name}: drained and stopped")
    state.with_api_instances(kept)


def _reload(
    state: TopologyState, options: RolloutOptions, progress: Progress, members: list[int] | None = None
) -> None:
    chosen = members or list(range(1, state.api_instances + 1))
    began = time.monotonic()
    settled = NginxBalancer(state, chosen).reload_settled(options.drain_timeout)
    names = ", ".join(f"backend-{i}" for i in chosen)
    progress(f"nginx: upstream {names} (reloaded in {time.monotonic() - began:.1f}s)")
    if not settled:
        progress(f"nginx: old workers still busy after {options.drain_timeout:g}s; going on")
