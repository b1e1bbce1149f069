"""Metrics of an instance that runs several worker processes (``WEB_CONCURRENCY`` > 1).

prometheus_client's multiprocess mode: each worker writes its samples to memory-mapped files in the
instance's ``PROMETHEUS_MULTIPROC_DIR``, and a scrape answered by any worker merges every file, so the
instance's counters add up whichever worker served a request. The library chooses that mode from the
environment when it is imported; ``neurmatic api`` puts the directory there first. Gauges say how
workers' values combine (``multiprocess_mode`` in :mod:`.registry`); the ``live*`` ones forget a worker
once it has exited. Per-process collectors do not work in this mode: :class:`InstanceProcessCollector`
reports the CPU and memory of the whole instance (the uvicorn manager and its workers) instead.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry, values
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from neurmatic.api.factory import manager_pid

DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # the name prometheus_client reads
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    """The directory of this process's metric files, when prometheus_client writes them: it decided
    from the environment when it was first imported, which is what counts (not the environment now)."""
    if values.ValueClass is values.MutexValue:  # in-memory values: this process alone
        return None
    value = os.environ.get(DIR_VARIABLE)
    return Path(value) if value else None


def forget_this_process(path: Path) -> None:
    """Drop this process's live gauges: it is shutting down (a worker replaced, an instance stopped).

    Called at the end of the app's lifespan, not at exit: uvicorn re-raises the SIGTERM it caught once
    it has shut down, so the interpreter dies of it and never runs ``atexit`` hooks.
    """
    mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


def forget_dead_workers(path: Path) -> None:
    """A worker that was killed never ran its exit hook: forget its live gauges at the next scrape."""
    for entry in path.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(entry.name)
        if match and not psutil.pid_exists(int(match.group(1))):
            entry.unlink(missing_ok=True)


def merged_registry(path: Path) -> CollectorRegistry:
    """A registry for one scrape: every worker's samples merged, and the instance's process figures."""
    forget_dead_workers(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    registry.register(InstanceProcessCollector())
    return registry


class InstanceProcessCollector:
    """``process_*`` of the instance: the uvicorn manager and every worker, or this process alone."""

    def collect(self) -> Iterator[Metric]:
        processes = _instance_processes(manager_pid())
        cpu = rss = fds = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error), process.oneshot():
                times = process.cpu_times()
                cpu += times.user + times.system
                rss += process.memory_info().rss
                fds += process.num_fds()
        yield CounterMetricFamily(
            "process_cpu_seconds_total", "CPU time of the instance's processes, in seconds", value=cpu
        )
        yield GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of the instance's processes", value=rss
        )
        yield GaugeMetricFamily("process_open_fds", "Open file descriptors of the instance", value=fds)
        workers = sum(1 for process in processes if _is_worker(process))
        yield GaugeMetricFamily(
            "neurmatic_api_worker_processes", "Worker processes of this API instance", value=workers or 1
        )


def _is_worker(process: psutil.Process) -> bool:
    """A uvicorn worker is a multiprocessing spawn child (not the resource tracker beside them)."""
    try:
        return any("spawn_main" in part for part in process.cmdline())
    except psutil.Error:
        return False


def _instance_processes(manager: int | None) -> list[psutil.Process]:
    try:
        if manager is None or manager != os.getppid():
            return [psutil.Process()]
        parent = psutil.Process(manager)
        return [parent, *parent.children()]
    except psutil.Error:
        return [psutil.Process()]
