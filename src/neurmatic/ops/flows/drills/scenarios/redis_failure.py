"""``redis-failure``: the Redis master crashes; Sentinel promotes the replica; nothing stored is lost.

Before the fault the drill holds a session (the load's, signed in before anything broke) and schedules a
probe job due a moment after the fault, acknowledged by the replica (``WAIT``) so the test is of the
failover and not of asynchronous replication's last millisecond. Recovery is the three Sentinels
agreeing on a new master that says it is one. Afterwards the session must still open, the job must
have run, the worker must be the very process that ran before the fault (it rides through a failover;
a restarted one would have cost the queues their scheduler for its start-up and more), and the killed
node is started again (as ``neurmatic up`` would) and must rejoin as a replica.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.job import Job, JobStatus

from neurmatic.adapters.redis import sync_master
from neurmatic.deployment.drills import ProcessIdentity, RedisHandle
from neurmatic.domain.jobs import QueueName
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.drills.errors import DrillPreconditionFailed
from neurmatic.ops.flows.drills.probe import drill_probe
from neurmatic.ops.flows.drills.registry import Scenario, register
from neurmatic.polling import poll

JOB_DELAY_SECONDS = 2  # due while the master is down: it waits in Redis through the failover
JOB_WAIT_SECONDS = 45.0
REJOIN_TIMEOUT_SECONDS = 45.0


def sentinel_masters(ctx: DrillContext) -> list[int | None]:
    """The master port each Sentinel names (None for a Sentinel that does not answer)."""
    return [sentinel.master_port() for sentinel in ctx.control.sentinels()]


@register
class RedisFailure(Scenario):
    name = "redis-failure"
    summary = (
        "SIGKILL the Redis master; the Sentinels promote the replica; sessions and queued jobs survive "
        "and the killed node rejoins as a replica."
    )

    def __init__(self) -> None:
        self.killed: RedisHandle | None = None
        self.job_id: str | None = None
        self.token = secrets.token_hex(8)
        self.access_token = ""
        self.worker: ProcessIdentity | None = None  # the worker's process before the fault

    def _master(self, ctx: DrillContext) -> RedisHandle:
        ports = set(sentinel_masters(ctx))
        nodes = [node for node in ctx.control.redis_nodes() if node.port in ports]
        if len(ports) != 1 or len(nodes) != 1:
            raise DrillPreconditionFailed(
                "the Sentinels do not agree on one master before the drill",
                hint="check `neurmatic status`; a previous failover may still be settling",
            )
        return nodes[0]

    def check_ready(self, ctx: DrillContext) -> None:
        master = self._master(ctx)
        if not all(s.has_quorum() for s in ctx.control.sentinels()):
            raise DrillPreconditionFailed(
                "the Sentinels have no quorum", hint="see `neurmatic logs sentinel-1`"
            )
        replicas = [n for n in ctx.control.redis_nodes() if n.name != master.name]
        if not replicas or any(r.replication().get("master_link_status") != "up" for r in replicas):
            raise DrillPreconditionFailed("the Redis replica is not in sync", hint="check `neurmatic status`")

    def run(self, ctx: DrillContext) -> None:
        master = self.killed = self._master(ctx)
        self.access_token = ctx.credentials.access_token  # issued before the fault
        self.worker = ctx.control.service("worker").identity()
        self._schedule_probe(ctx)
        stage = ctx.inject("master", f"SIGKILL {master.name} (the Redis master)", lambda: ctx.kill(master))

        def promoted() -> bool:
            ports = sentinel_masters(ctx)
            new = ports[0]
            if new is None or new == master.port or any(p != new for p in ports):
                return False
            node = next(n for n in ctx.control.redis_nodes() if n.port == new)
            return node.replication().get("role") == "master"

        ctx.await_recovery(stage, promoted, "the Sentinels agreed on the promoted replica")
        ctx.await_service(stage)

    def _schedule_probe(self, ctx: DrillContext) -> None:
        client = sync_master(ctx.settings.redis)
        try:
            job = Queue(QueueName.DEFAULT.value, connection=client).enqueue_in(
                timedelta(seconds=JOB_DELAY_SECONDS),
                drill_probe,
                self.token,
                result_ttl=3600,
                description="DR drill probe",
            )
            acked = int(client.execute_command("WAIT", 1, 2000))  # type: ignore[no-untyped-call]
        finally:
            client.close()
        self.job_id = job.id
        ctx.check("probe job acknowledged by the replica before the fault", acked >= 1, f"job {job.id}")

    def verify(self, ctx: DrillContext) -> None:
        with ctx.endpoint.client() as client:
            me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {self.access_token}"})
        ctx.check(
            "a session issued before the fault still works", me.status_code == 200, f"HTTP {me.status_code}"
        )
        ctx.check("the job scheduled before the fault ran after it", *self._job_outcome(ctx))
        ctx.check("the worker rode through the failover", *self._worker_outcome(ctx))

    def _worker_outcome(self, ctx: DrillContext) -> tuple[bool, str]:
        worker = ctx.control.service("worker")
        entry, running = worker.identity(), worker.running_pid()
        if running is None:
            return False, "the worker is not running"
        if self.worker is None or entry != self.worker:
            before = self.worker[0] if self.worker else "none"
            return False, f"restarted: pid {before} before the fault, {running} now"
        return True, f"pid {running} throughout"

    def _job_outcome(self, ctx: DrillContext) -> tuple[bool, str]:
        if self.job_id is None:
            return False, "no job was scheduled"
        client = sync_master(ctx.settings.redis)
        job_id = self.job_id

        def fetch() -> tuple[Job | None, object]:  # the job (None once gone) and its status
            try:
                job = Job.fetch(job_id, connection=client)
            except Exception:  # NoSuchJobError: the job is gone (lost, or never replicated)
                return None, "gone"
            return job, job.get_status()

        try:
            polled = poll(
                fetch,
                timeout=JOB_WAIT_SECONDS,
                interval=0.5,
                done=lambda seen: seen[1] in ("gone", JobStatus.FINISHED, JobStatus.FAILED),
                catch=(),
            )
            job, status = polled.value or (None, "missing")
            if job is None and polled.done:
                return False, f"job {self.job_id} is not in Redis any more"
            if job is not None and status == JobStatus.FINISHED:
                ok = job.return_value() == self.token
                when = self._after_fault(ctx, job.ended_at)
                return ok, f"finished {when}{'' if ok else ', with an unexpected result'}"
            if status == JobStatus.FAILED:
                return False, "the job failed"
        finally:
            client.close()
        return False, f"still {status} after {JOB_WAIT_SECONDS:g} s"

    @staticmethod
    def _after_fault(ctx: DrillContext, ended_at: datetime | None) -> str:
        if ended_at is None or not ctx.recorder.stages:
            return "(end time unknown)"
        fault = ctx.recorder.wall(ctx.recorder.stages[0].fault_at)
        return f"{(ended_at.replace(tzinfo=UTC) - fault).total_seconds():.1f} s after the fault"

    def restore(self, ctx: DrillContext) -> None:
        """Start the killed node again, as ``neurmatic up`` would; Sentinel turns it into a replica."""
        node = self.killed
        if node is None:
            return
        if node.running_pid() is None:
            ctx.progress(f"restore: starting {node.name} again")
            node.ensure_running()
        polled = poll(
            node.replication,
            timeout=REJOIN_TIMEOUT_SECONDS,
            interval=0.5,
            done=lambda info: info.get("role") == "slave" and info.get("master_link_status") == "up",
            catch=(),
        )
        rejoined, info = polled.done, polled.value or {}
        ctx.check(f"{node.name} rejoined as a replica", rejoined, f"role {info.get('role')}")
