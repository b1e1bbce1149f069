"""``neurmatic scale api N``: the guide's "Scaling Backend Instances", through the platform's
``ReleaseControl``.

Adding: start ``backend-K`` (on the local topology, port ``base+300+K``) from the current release and
await readiness; only then persist the count (so ``status``, ``down``, health checks and the watcher know
it) and put it in nginx's upstream with a graceful reload. Removing: take the surplus out of the upstream
first, let their requests drain, then stop them and persist the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from neurmatic.deployment.releases import DeployFailed, ReleaseControl
from neurmatic.errors import TopologyError
from neurmatic.ops.flows.releases.context import preflight
from neurmatic.ops.flows.releases.history import ReleaseHistory, exclusive, label
from neurmatic.ops.flows.releases.rolling import RolloutOptions, wait_drained

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
    releases: ReleaseControl, count: int, *, options: RolloutOptions, progress: Progress
) -> ScaleOutcome:
    """Run ``count`` API instances: new ones ready before nginx routes to them, removed ones drained."""
    if not MIN_API_INSTANCES <= count <= releases.max_instances:
        raise DeployFailed(f"{count} API instances: choose {MIN_API_INSTANCES} to {releases.max_instances}")
    with exclusive(releases.lock_file, "scale"):
        started = time.monotonic()
        before = len(releases.instances())
        release = ReleaseHistory.load(releases.history_file).current
        preflight(releases)
        if count > before:
            _add(releases, range(before + 1, count + 1), release, options, progress)
        elif count < before:
            _remove(releases, range(count + 1, before + 1), options, progress)
        else:
            progress(f"already {count} API instances")
        return ScaleOutcome(before, count, release, round(time.monotonic() - started, 3))


def _add(
    releases: ReleaseControl, indexes: range, release: str | None, options: RolloutOptions, progress: Progress
) -> None:
    started: list[str] = []
    try:
        for index in indexes:
            name = releases.instance(index).name
            with releases.hold(name):
                releases.record_release(name, release)
                began = time.monotonic()
                releases.start(name)
                started.append(name)
                releases.wait_ready(name, options.ready_timeout)
            progress(f"{name}: started on {label(release)}, ready in {time.monotonic() - began:.1f}s")
    except TopologyError as exc:  # not ready, or its port is taken: undo what was started
        for name in started:
            releases.stop(name)
        for index in indexes:
            releases.record_release(releases.instance(index).name, None)
        raise DeployFailed(f"scaling up failed: {exc.message}", hint=exc.hint) from exc
    releases.set_instance_count(indexes[-1])
    _reload(releases, list(range(1, indexes[-1] + 1)), options, progress)


def _remove(releases: ReleaseControl, indexes: range, options: RolloutOptions, progress: Progress) -> None:
    kept = len(releases.instances()) - len(indexes)
    _reload(releases, list(range(1, kept + 1)), options, progress)
    for index in reversed(indexes):
        instance = releases.instance(index)
        wait_drained(releases, instance, options.drain_timeout)
        releases.stop(instance.name)
        releases.record_release(instance.name, None)
        progress(f"{instance.name}: drained and stopped")
    releases.set_instance_count(kept)


def _reload(
    releases: ReleaseControl, members: list[int], options: RolloutOptions, progress: Progress
) -> None:
    began = time.monotonic()
    settled = releases.route(members, options.drain_timeout)
    names = ", ".join(releases.instance(i).name for i in members)
    progress(f"nginx: upstream {names} (reloaded in {time.monotonic() - began:.1f}s)")
    if not settled:
        progress(f"nginx: old workers still busy after {options.drain_timeout:g}s; going on")
