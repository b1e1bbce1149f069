"""Move the API instances, then the worker, to a release one at a time, with nginx routing around them.

For each instance: take it out of nginx's upstream (re-render + graceful reload), wait until nginx's
previous workers have exited (so every request they had in flight is answered) and no connection to the
instance is left, stop it, start it from the new release, await ``/health/ready``, probe it, and put it
back. Putting one back and taking the next out is one reload: N instances cost N+1 reloads (each reload
closes idle keep-alive connections, which clients must then reopen). An instance put back is watched in
nginx's access log while the next one is replaced; too many errors fail it. While a service is being
replaced it is held (``ReleaseControl.hold``), so the watcher does not "rescue" it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from neurmatic.deployment.releases import DeployFailed, Instance, ReleaseControl
from neurmatic.errors import ServiceStartError
from neurmatic.ops.flows.releases.history import label
from neurmatic.ops.flows.releases.traffic import AccessLog, error_rate_exceeded, probe_instance, tally
from neurmatic.polling import poll

Progress = Callable[[str], None]


class RolloutFailed(DeployFailed):
    """A service did not come up well on the release; ``service`` says which."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}", hint=f"see `neurmatic logs {service}`")
        self.service = service


def start_failure(exc: ServiceStartError) -> str:
    """One line out of a start failure: what happened, and the log's last error line (not the whole tail)."""
    first, *tail = exc.message.splitlines()
    errors = [line for line in tail if "error" in line.lower() and not line.lstrip().startswith("{")]
    last = (errors or tail or [""])[-1].strip()
    return first.rstrip(":") + (f" ({last[:200]})" if last else "")


@dataclass(frozen=True)
class RolloutOptions:
    ready_timeout: float = 60.0  # a new instance must answer /health/ready within this
    drain_timeout: float = 30.0  # requests in flight (and nginx's old workers) get this long
    observe_seconds: float = 2.0  # how long the last instance put back is watched before the worker


def wait_drained(releases: ReleaseControl, instance: Instance, timeout: float) -> int:
    """Wait until no connection to ``instance`` is left, at most ``timeout`` seconds; those still open."""
    poll(
        lambda: releases.open_connections(instance),
        timeout=timeout,
        interval=0.05,
        done=lambda n: not n,
        catch=(),
    )
    return releases.open_connections(instance)


class Rollout:
    def __init__(self, releases: ReleaseControl, progress: Progress, options: RolloutOptions) -> None:
        self.releases = releases
        self.apis = releases.instances()
        self.progress = progress
        self.options = options
        self.serving = {api.index for api in self.apis}  # what nginx's config routes to
        self.ready_out: set[int] = set()  # replaced and ready, back in at the next reload
        self.watched: dict[int, int] = {}  # instance -> access-log offset when it rejoined
        self.access_log = AccessLog(releases.access_log())
        self.durations: dict[str, float] = {}

    def switch(self, target: str | None) -> None:
        """Every API instance, then the worker, onto ``target`` (None: the installed package)."""
        self.watched.clear()
        routable = self.serving | self.ready_out
        apis = [a for a in self.apis if self._needs_switch(a.name, target) or a.index not in routable]
        # Those out of rotation (or down) first: replacing them costs no capacity.
        apis.sort(key=lambda api: (api.index in self.serving, self.releases.is_running(api.name)))
        for api in apis:
            self._replace_api(api, target)
        self._route(self.serving | self.ready_out)
        if self.watched:
            time.sleep(self.options.observe_seconds)
            self._verify()
        worker = self.releases.worker
        if self._needs_switch(worker, target):
            started = time.monotonic()
            with self.releases.hold(worker):
                self._restart(worker, target)
            self.durations[worker] = round(time.monotonic() - started, 3)
            self.progress(f"worker: on {label(target)}, ready ({self.durations[worker]:.1f}s)")

    def _needs_switch(self, service: str, target: str | None) -> bool:
        return self.releases.release_of(service) != target or not self.releases.is_running(service)

    def _restart(self, service: str, target: str | None) -> None:
        """Stop ``service``, start it on ``target``, await its readiness (stopped again if it fails)."""
        self.releases.stop(service)
        self.releases.record_release(service, target)
        self.releases.start(service)
        try:
            self.releases.wait_ready(service, self.options.ready_timeout)
        except ServiceStartError as exc:
            self.releases.stop(service)
            raise RolloutFailed(
                service, f"never became ready on {label(target)}: {start_failure(exc)}"
            ) from exc

    def _replace_api(self, api: Instance, target: str | None) -> None:
        started = time.monotonic()
        with self.releases.hold(api.name):
            others = (self.serving | self.ready_out) - {api.index}
            if not others:
                raise RolloutFailed(api.name, "no other instance would serve meanwhile (scale to 2 or more)")
            self._route(others)
            self._drain(api)
            self._restart(api.name, target)
            problem = probe_instance(api.address)
            if problem:
                self.releases.stop(api.name)
                raise RolloutFailed(api.name, f"answers badly on {label(target)}: {problem}")
            self.ready_out.add(api.index)
        self.durations[api.name] = round(time.monotonic() - started, 3)
        self.progress(f"{api.name}: on {label(target)}, ready ({self.durations[api.name]:.1f}s)")
        self._verify()  # those put back at this step's reload have served while this one was replaced

    def _route(self, members: set[int]) -> None:
        """Make nginx's upstream ``members`` (a reload); wait for the old workers to finish."""
        if members == self.serving:
            return
        added = members - self.serving
        offset = self.access_log.offset()
        started = time.monotonic()
        settled = self.releases.route(sorted(members), self.options.drain_timeout)
        self.serving, self.ready_out = set(members), self.ready_out - members
        self.watched.update(dict.fromkeys(added, offset))
        names = ", ".join(self.releases.instance(i).name for i in sorted(members))
        self.progress(f"nginx: upstream {names} (reloaded in {time.monotonic() - started:.1f}s)")
        if not settled:
            self.progress(
                f"nginx: old workers still busy after {self.options.drain_timeout:g}s "
                "(long-lived connections such as WebSockets); going on"
            )

    def _drain(self, api: Instance) -> None:
        started = time.monotonic()
        left = wait_drained(self.releases, api, self.options.drain_timeout)
        suffix = f"; {left} connections still open, closing them" if left else ""
        self.progress(f"{api.name}: drained in {time.monotonic() - started:.1f}s{suffix}")

    def _verify(self) -> None:
        """Fail an instance that rejoined when nginx saw too many errors from it since."""
        by_offset: dict[int, list[str]] = {}
        for index, offset in self.watched.items():
            lines = by_offset.setdefault(offset, self.access_log.lines_since(offset))
            instance = self.releases.instance(index)
            seen = tally(lines, instance.address)
            if error_rate_exceeded(seen):
                raise RolloutFailed(
                    instance.name,
                    f"{seen.errors} of {seen.total} requests through nginx failed since it rejoined",
                )
