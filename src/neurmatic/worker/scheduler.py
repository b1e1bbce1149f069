"""RQ's scheduler (due retries and ``enqueue_in`` jobs onto their queues) with a short lease on its locks.

RQ lets one scheduler per queue move due jobs, by a lock it holds for ``interval + 60`` s and renews
on every tick. A worker that dies without releasing it (SIGKILL, OOM, a crash) would keep every queue's
scheduling for a minute, and its replacement would wait that long before a due job moves. Here the lease
is ``LEASE_SECONDS``, renewed every second by the housekeeper: a dead worker's locks are free seconds
later. A worker that lost Redis for longer than the lease (a slow failover) takes its locks back on its
next tick, unless another worker took them meanwhile; then that one schedules.
"""

from __future__ import annotations

import functools
import logging
import os

from redis.commands.core import Script
from rq.scheduler import RQScheduler
from rq.scripts import ACQUIRE_OR_REFRESH_LOCK_SCRIPT
from rq.utils import now

log = logging.getLogger("neurmatic.worker")
LEASE_SECONDS = 10  # renewed every second; long enough to ride out a pause of the worker's thread
_HELD = (1, 2)  # the lock script's "acquired" and "refreshed" (0: another scheduler holds it)


class LeasedScheduler(RQScheduler):
    """RQ's scheduler whose locks (and metadata) live ``LEASE_SECONDS`` unless renewed."""

    @functools.cached_property
    def _lock_script(self) -> Script:
        """RQ's lock script, registered once (the housekeeper renews the locks every second)."""
        script: Script = self.connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)
        return script

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """Take or renew every queue lock not held by another scheduler, in one round trip; the queues
        this scheduler holds now. Called on every tick: it is the renewal too."""
        names = sorted(self._queue_names)
        self.pid, self.last_heartbeat = os.getpid(), now()
        script = self._lock_script
        with self.connection.pipeline() as pipeline:
            for name in names:
                script(keys=[self.get_locking_key(name)], args=[self.name, LEASE_SECONDS], client=pipeline)
            # RQ's metadata, by which `Queue.scheduler_pid` names the holder.
            pipeline.hset(self.key, mapping=self.to_dict())
            pipeline.expire(self.key, LEASE_SECONDS)
            outcomes = pipeline.execute()
        held = {name for name, outcome in zip(names, outcomes, strict=False) if outcome in _HELD}
        if held != self._acquired_locks:
            if held - self._acquired_locks:
                log.info("scheduler locks taken", extra={"queues": sorted(held - self._acquired_locks)})
            if self._acquired_locks - held:
                log.warning(
                    "scheduler locks held by another worker",
                    extra={"queues": sorted(self._acquired_locks - held)},
                )
            self._scheduled_job_registries = []  # rebuilt for the queues held now
        self._acquired_locks = held
        return held
