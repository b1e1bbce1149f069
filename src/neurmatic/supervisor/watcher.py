"""The watcher: a small background process that restarts a crashed API instance, worker, Patroni or
etcd member.

A dead Patroni is restarted at once because its PostgreSQL outlives it: a primary whose Patroni is gone
keeps taking writes although nobody renews its leader key, and only a live Patroni demotes it when the
other node takes the lead (synchronous replication keeps such an orphan from acknowledging a commit
alone meanwhile). Patroni, not the watcher, decides whether its PostgreSQL runs as primary or replica.
Redis is not restarted: a dead master is Sentinel's matter. A service stopped on purpose has no pid file,
and one a deploy or scaling is working on has a hold file (``run/<name>.hold``), so the watcher leaves
both alone. It restarts an API instance or the worker from the release that service last ran
(``service-releases.json``, read at each restart).

It also keeps the logs from filling the disk: every few seconds it rotates, by size, each service's log
files and whatever else lies in ``logs/`` (:mod:`.logrotation`, copy then truncate; no server restarts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.errors import StateDirError
from neurmatic.supervisor.logrotation import LOG_KEEP, LOG_MAX_BYTES, rotate_all
from neurmatic.supervisor.process import PidFile, is_running, reap_children, terminate
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:
    from neurmatic.supervisor.service import Service

log = logging.getLogger("neurmatic.watcher")
POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
ROTATE_EVERY_SECONDS = 5.0


class Watcher:
    log_max_bytes = LOG_MAX_BYTES
    log_keep = LOG_KEEP

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.pidfile = PidFile(state.paths.pidfile("watcher"))
        self.stopping = False

    def ensure_running(self) -> int:
        """Start the watcher process in the background unless it already runs."""
        pid = self.pidfile.running_pid()
        if pid is not None:
            return pid
        log_file = open(self.state.paths.log("watcher"), "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "neurmatic", "supervise", "--state-dir", str(self.state.paths.root)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()
        self.pidfile.write(proc.pid)
        return proc.pid

    def stop(self) -> None:
        entry = self.pidfile.read()
        if entry and is_running(*entry):
            # Only the watcher: the servers it restarted are its children, and `down` stops them in order.
            terminate(entry[0], grace=10, with_descendants=False)
        self.pidfile.remove()

    def restarts(self, name: str) -> int:
        try:
            return int((self.state.paths.run / f"{name}.restarts").read_text())
        except (OSError, ValueError):
            return 0

    def _count_restart(self, name: str) -> None:
        counter = self.state.paths.run / f"{name}.restarts"
        partial = counter.with_suffix(".restarts-new")
        partial.write_text(str(self.restarts(name) + 1))
        partial.replace(counter)  # readers never see an empty file

    def rotate_logs(self, services: list[Service]) -> list[Path]:
        """Rotate, by size, the services' log files (nginx's access and error logs among them) and what else
        logs beside them in ``logs/`` (this watcher's own log); the rotated ones."""
        paths = sorted({*(p for s in services for p in s.log_files()), *self.state.paths.logs.glob("*.log")})
        try:
            rotated = rotate_all(paths, max_bytes=self.log_max_bytes, keep=self.log_keep)
        except OSError as exc:  # a full disk must not stop the watcher from restarting services
            log.error("log rotation failed", extra={"error": str(exc)})
            return []
        for path in rotated:
            log.info("log rotated", extra={"log": str(path)})
        return rotated

    def run_forever(self) -> None:
        """The watcher's loop (runs in the background process)."""
        from neurmatic.supervisor.topology import Topology

        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        self.pidfile.write(os.getpid())
        backoff: dict[str, float] = {}
        next_try: dict[str, float] = {}
        next_rotation = 0.0
        log.info("watcher started", extra={"state_dir": str(self.state.paths.root)})
        while not self.stopping:
            reap_children()
            # Read the state afresh: `neurmatic scale` changes the number of API instances.
            with contextlib.suppress(StateDirError):
                self.state = TopologyState.load(self.state.paths.root)
            services = Topology(self.state).services()
            if time.monotonic() >= next_rotation:
                self.rotate_logs(services)
                next_rotation = time.monotonic() + ROTATE_EVERY_SECONDS
            for service in (s for s in services if s.restartable):
                entry = service.pidfile.read()
                if entry is None or is_running(*entry) or time.monotonic() < next_try.get(service.name, 0):
                    continue
                if self.state.paths.hold(service.name).exists():  # a deploy is replacing it
                    continue
                log.warning("service died; restarting", extra={"service": service.name, "pid": entry[0]})
                try:
                    service.prepare()  # as `up` does: a rendered config (Prometheus's rules) is current
                    service.start()
                    service.wait_ready()
                    self._count_restart(service.name)
                    backoff.pop(service.name, None)
                    log.info("service restarted", extra={"service": service.name})
                except Exception as exc:
                    if service.running_pid() is None:
                        fenced = service.fence_orphans()
                        if fenced:
                            log.error(
                                "fenced what the dead service left running",
                                extra={"service": service.name, "action": fenced},
                            )
                    delay = min(backoff.get(service.name, 1.0) * 2, MAX_BACKOFF_SECONDS)
                    backoff[service.name], next_try[service.name] = delay, time.monotonic() + delay
                    log.error(
                        "restart failed",
                        # The end of the message: a start failure ends with the server's own last lines.
                        extra={"service": service.name, "error": str(exc)[-800:], "retry_in_s": delay},
                    )
            time.sleep(POLL_SECONDS)
        log.info("watcher stopped")
