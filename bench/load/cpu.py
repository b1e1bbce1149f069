"""CPU seconds used during a run, per part of the system: the topology's servers (found from its pid files,
never by process name: other topologies may run on the same machine), Locust, and the machine as a whole.

A server's time counts with its live descendants and the children it has reaped, so PostgreSQL backends
and API workers that come and go during the run are counted too. Locust is this process's child: its time
(and its workers') is this process's reaped-children time once it has exited.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from neurmatic.supervisor.process import PidFile
from neurmatic.supervisor.state import TopologyState

# The topology's services (run/<name>.pid) by part; mail and the watcher are too small to matter.
GROUPS = {
    "api": ("backend-",),
    "worker": ("worker",),
    "nginx": ("nginx",),
    "postgres": ("postgres-",),
    "redis": ("redis-", "sentinel-"),
}


def postmasters(state: TopologyState) -> list[psutil.Process]:
    """The topology's PostgreSQL servers: Patroni starts each postmaster in a session of its own, so it
    is not in Patroni's tree (the pid file's); it is found from its data directory's postmaster.pid."""
    from neurmatic.supervisor.topology import Topology

    found = []
    for node in Topology(state).postgres:
        pid = node.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
    return found


def _tree_seconds(root: psutil.Process) -> float:
    """CPU seconds of ``root`` and its live descendants, each with the children it has reaped: a total
    that only grows, since a process that exits moves its time into its parent's reaped-children time."""
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _children_seconds() -> float:
    """CPU seconds of this process's reaped children (Locust, once it has exited, with its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    total = psutil.cpu_times()
    return total.user + total.nice + total.system + total.irq + total.softirq + total.steal


@dataclass(frozen=True)
class Snapshot:
    at: float
    groups: dict[str, float]
    children: float
    machine_busy: float

    @classmethod
    def take(cls, state: TopologyState) -> Snapshot:
        groups = {name: 0.0 for name in GROUPS}
        for pidfile in sorted(state.paths.run.glob("*.pid")):
            group = next((g for g, prefixes in GROUPS.items() if pidfile.stem.startswith(prefixes)), None)
            pid = PidFile(pidfile).running_pid()
            if group and pid:
                with contextlib.suppress(psutil.NoSuchProcess):
                    groups[group] += _tree_seconds(psutil.Process(pid))
        groups["postgres"] += sum(_tree_seconds(postmaster) for postmaster in postmasters(state))
        return cls(time.monotonic(), groups, _children_seconds(), _machine_busy())


@dataclass(frozen=True)
class CpuReport:
    wall_seconds: float
    cores: int
    seconds: dict[str, float]  # by part, Locust included
    machine_seconds: float  # every process of the machine, ours and others'

    @classmethod
    def between(cls, first: Snapshot, last: Snapshot) -> CpuReport:
        """The run between two snapshots; Locust must have exited (and been waited for) before ``last``."""
        seconds = {name: max(0.0, last.groups[name] - first.groups[name]) for name in GROUPS}
        seconds["locust"] = last.children - first.children
        machine = last.machine_busy - first.machine_busy
        return cls(last.at - first.at, psutil.cpu_count() or 1, seconds, machine)

    def percent(self, seconds: float) -> float:
        """Share of the whole machine (all cores) over the run."""
        return 100 * seconds / max(self.wall_seconds * self.cores, 1e-9)

    @property
    def others_seconds(self) -> float:
        """What the rest of the machine used (other engineers' runs, the system)."""
        return max(0.0, self.machine_seconds - sum(self.seconds.values()))

    def as_dict(self) -> dict[str, object]:
        return {
            "wall_seconds": round(self.wall_seconds, 2),
            "cores": self.cores,
            "seconds": {name: round(s, 2) for name, s in self.seconds.items()},
            "percent": {name: round(self.percent(s), 1) for name, s in self.seconds.items()},
            "others_seconds": round(self.others_seconds, 2),
            "machine_seconds": round(self.machine_seconds, 2),
        }

    def lines(self) -> Iterable[str]:
        yield f"CPU over {self.wall_seconds:.1f}s on {self.cores} cores (CPU seconds, % of the machine):"
        rows = [*self.seconds.items(), ("others", self.others_seconds), ("machine", self.machine_seconds)]
        for name, seconds in rows:
            yield f"  {name:<9} {seconds:7.1f} s  {self.percent(seconds):5.1f} %"
