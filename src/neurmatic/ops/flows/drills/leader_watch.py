"""What the PostgreSQL HA drills watch while the fault plays out, without acting on anything.

A background thread samples, ten times a second, which member Patroni names the leader (and its state)
and which nodes accept writes when asked directly. From the samples a drill tells when the failure was
detected (Patroni no longer reports the old leader running), when a new leader took writes, whether the
leader ever changed, and whether two nodes ever took writes at once (split brain).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from neurmatic.adapters.patroni import first_cluster
from neurmatic.deployment.drills import PostgresHandle
from neurmatic.ops.flows.drills.context import DrillContext
from neurmatic.ops.flows.failover.orchestrate import rebuild_standby
from neurmatic.polling import poll

SAMPLE_SECONDS = 0.1
REJOIN_TIMEOUT = 90.0  # pg_rewind and a restart; Patroni retries every loop_wait


@dataclass(frozen=True)
class Sample:
    at: float  # the drill's clock (``recorder.now()``)
    leader: str | None  # the member Patroni lists as the running leader (None: none, or no answer)
    old_leader_state: str | None  # Patroni's state of the leader from before the fault
    writable: frozenset[str]  # the nodes that accepted a write transaction when asked directly


class LeaderWatch:
    """Samples the cluster from ``start()`` to ``stop()``; ``old`` is the leader before the fault."""

    def __init__(self, ctx: DrillContext, old: PostgresHandle) -> None:
        self.ctx = ctx
        self.old = old.name
        self.nodes = ctx.control.postgres_nodes()
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-watch", daemon=True)

    def start(self) -> LeaderWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        apis = self.ctx.deployment.patroni_apis(timeout=1.0)
        while not self._stop.is_set():
            leader = old_state = None
            try:
                cluster = first_cluster(apis)
                leader = cluster.leader.name if cluster.leader else None
                old_member = cluster.member(self.old)
                old_state = old_member.state if old_member else "not a member"
            except Exception:  # noqa: S110 - no Patroni answering is itself a sample: no leader
                pass
            writable = frozenset(node.name for node in self.nodes if node.takes_writes())
            self.samples.append(Sample(self.ctx.recorder.now(), leader, old_state, writable))
            self._stop.wait(SAMPLE_SECONDS)

    # -- what the samples say ----------------------------------------------------------------------

    def detected_at(self, fault_at: float) -> float | None:
        """First moment after the fault that Patroni no longer reported the old leader running as leader."""
        return next(
            (
                s.at
                for s in self.samples
                if s.at >= fault_at and (s.leader != self.old or s.old_leader_state != "running")
            ),
            None,
        )

    def new_leader_writable_at(self, fault_at: float) -> tuple[str, float] | None:
        """The first leader other than the old one that took writes after the fault, and when."""
        for sample in self.samples:
            if (
                sample.at >= fault_at
                and sample.leader not in (None, self.old)
                and sample.leader in sample.writable
            ):
                return sample.leader, sample.at
        return None

    def leaders_seen(self) -> list[str]:
        """Every distinct leader, in order of appearance (None gaps left out)."""
        seen: list[str] = []
        for sample in self.samples:
            if sample.leader is not None and (not seen or seen[-1] != sample.leader):
                seen.append(sample.leader)
        return seen

    def most_writable(self) -> tuple[int, str]:
        """The most nodes that took writes at one moment, and which ones (2 would be a split brain)."""
        if not self.samples:
            return 0, "no sample"
        widest = max(self.samples, key=lambda s: len(s.writable))
        return len(widest.writable), ", ".join(sorted(widest.writable)) or "none"

    def check_single_primary(self) -> None:
        count, which = self.most_writable()
        self.ctx.check(
            "never two PostgreSQL nodes taking writes at once",
            count <= 1 and bool(self.samples),
            f"at most {count} ({which}) in {len(self.samples)} samples",
        )

    def report_timing(self, fault_at: float) -> None:
        """The report's lines: who led before and after, detection and promotion times."""
        leaders = self.leaders_seen()
        after = leaders[-1] if leaders else "none"
        detected = self.detected_at(fault_at)
        promoted = self.new_leader_writable_at(fault_at)
        figures = self.ctx.recorder.figures
        figures["leader_before"], figures["leader_after"] = self.old, after
        figures["detection_seconds"] = None if detected is None else round(detected - fault_at, 3)
        figures["new_leader_writable_seconds"] = (
            None if promoted is None else round(promoted[1] - fault_at, 3)
        )
        parts = [f"leader before {self.old}, after {after}"]
        if detected is not None:
            parts.append(f"Patroni saw the failure {detected - fault_at:.2f}s after the fault")
        if promoted is not None:
            name, at = promoted
            parts.append(f"{name} took writes {at - fault_at:.2f}s after the fault")
            if detected is not None:
                parts.append(f"promotion took {at - detected:.2f}s after detection")
        self.ctx.note("; ".join(parts))


def cluster_whole(ctx: DrillContext) -> bool:
    """A node takes writes and every other node streams from it (asked of the servers themselves), and
    Patroni has named a synchronous standby: until it has, it would promote no one if the leader died."""
    leader = ctx.control.postgres_primary()
    others = [node for node in ctx.control.postgres_nodes() if node.name != leader.name]
    if not others or not all(leader.streams_to(node.name) for node in others):
        return False
    if not ctx.deployment.patroni_urls:
        return True
    cluster = first_cluster(ctx.deployment.patroni_apis(timeout=1.0))
    return any(m.role == "sync_standby" and m.state == "streaming" for m in cluster.members)


def check_rejoined(ctx: DrillContext, name: str, timeout: float = REJOIN_TIMEOUT) -> bool:
    """Check that ``name`` (the old leader) streams again from the leader, as Patroni brings it back."""
    polled = poll(lambda: cluster_whole(ctx), timeout=timeout, interval=0.5)
    states = _member_states(ctx)
    return ctx.check(
        f"{name} rejoined as a streaming standby with no operator action",
        polled.done,
        f"after {polled.elapsed:.1f}s: {states}",
    )


def restore_cluster(ctx: DrillContext) -> None:
    """Leave the cluster whole for the next drill: Patroni's reinitialize of a standby that did not
    come back by itself (a drill's own checks already recorded that it did not)."""
    if poll(lambda: cluster_whole(ctx), timeout=REJOIN_TIMEOUT, interval=0.5).done:
        return
    rebuilt = rebuild_standby(ctx.deployment, progress=ctx.progress)
    ctx.note(f"restore: {rebuilt.node} rebuilt by {rebuilt.method} in {rebuilt.elapsed_seconds:.1f}s")


def _member_states(ctx: DrillContext) -> str:
    try:
        cluster = first_cluster(ctx.deployment.patroni_apis(timeout=1.0))
    except Exception:
        return "no Patroni answers"
    return ", ".join(f"{m.name} {m.role} {m.state}" for m in cluster.members)
