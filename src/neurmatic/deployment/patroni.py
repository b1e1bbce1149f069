"""``DatabaseFailover`` on Patroni: failover, switchover and standby rebuild asked of Patroni's REST API.

Patroni decides and acts (it holds the leader key in etcd, promotes, demotes, rewinds); we only ask it,
then check what a client sees: the application's multi-host URL reaches the new leader for writes. We
never promote, fence or restart a PostgreSQL behind Patroni's back. Any deployment that names its Patroni
REST APIs (the local topology, or ``NEURMATIC_PATRONI_URLS`` in an env file) fails over this way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from neurmatic.adapters.patroni import (
    Cluster,
    Member,
    PatroniApi,
    PatroniUnreachable,
    first_cluster,
    own_api,
)
from neurmatic.adapters.pg_target import PgTarget, connected_node
from neurmatic.deployment.failover import (
    FailoverFailed,
    FailoverResult,
    Progress,
    RebuildResult,
    no_progress,
    wait_until,
)
from neurmatic.errors import TopologyError
from neurmatic.polling import poll

ACTION_TIMEOUT = 90.0  # Patroni answers a failover or switchover once it is done (or failed)
WRITABLE_TIMEOUT = 60.0
REJOIN_TIMEOUT = 120.0
REINIT_TIMEOUT = 900.0  # a base backup of a large database takes a while
REACH_TIMEOUT = 15.0  # a Patroni just (re)started opens its REST API within a second or two
SERVING_STATES = ("running", "streaming")


class PatroniFailover:
    """The three moves of ``DatabaseFailover``, through the Patroni cluster behind ``apis``."""

    def __init__(self, apis: list[PatroniApi], app: PgTarget, *, progress: Progress = no_progress) -> None:
        self.apis = apis
        self.app = app
        self.progress = progress

    def cluster(self) -> Cluster:
        """The cluster, with only the members whose REST API is one of ours: a member is a key in etcd,
        and whoever can write there could otherwise name an address our credentials would be sent to."""
        try:
            cluster = first_cluster(self.apis)
        except TopologyError as exc:
            raise FailoverFailed(exc.message, hint="is Patroni running on the database nodes?") from exc
        known = [m for m in cluster.members if own_api(self.apis, m) is not None]
        for stranger in (m for m in cluster.members if m not in known):
            self.progress(
                f"patroni: ignoring member {stranger.name}: its REST API {stranger.api_url} is not ours"
            )
        return Cluster(known, cluster.paused)

    def _api(self, member: Member) -> PatroniApi:
        """Our own configured API for ``member`` (``cluster()`` keeps only members that have one)."""
        api = own_api(self.apis, member)
        assert api is not None, member.name
        return api

    def failover(self, *, force: bool = False) -> FailoverResult:
        """Promote the synchronous standby; the old leader is demoted and rejoins as a replica by itself.

        Patroni checks the synchronous standby only for a switchover: asked to fail over to a replica that
        is behind (the leader wrote alone while it was away), it would promote it and the writes only the
        old leader had would be rewound away. So a standby that is not the synchronous one is refused,
        unless ``force`` (the old leader's data is gone for good anyway)."""
        started = time.monotonic()
        cluster = self.cluster()
        old = cluster.leader
        candidate = _failover_candidate(cluster)
        if candidate.role != "sync_standby" and not force:
            lag = "unknown" if candidate.lag_bytes is None else f"{candidate.lag_bytes} bytes"
            raise FailoverFailed(
                f"{candidate.name} is not the synchronous standby: it may lack commits the old leader "
                f"acknowledged (lag {lag}); Patroni promotes no one by itself for that reason",
                hint=f"bring the old leader's Patroni back (it rejoins and leads again), or, if its data is "
                f"lost for good, `neurmatic failover db --force` promotes {candidate.name} anyway",
            )
        # No "leader" in the request: with one, Patroni performs a (graceful) switchover instead.
        body = {"candidate": candidate.name}
        self.progress(f"patroni: failover to {candidate.name} (leader was {old.name if old else 'none'})")
        if force and candidate.role != "sync_standby":
            self.progress(
                f"patroni: --force: {candidate.name} is not the synchronous standby; commits may be lost"
            )
        self._act(candidate, "/failover", body)
        return self._moved("failover", old, candidate, started, unreplicated_bytes=candidate.lag_bytes)

    def switchover(self) -> FailoverResult:
        """Planned: Patroni stops the leader cleanly, waits for the standby to have everything, promotes
        it and restarts the old leader as its replica."""
        started = time.monotonic()
        cluster = self.cluster()
        old = cluster.leader
        if old is None:
            raise FailoverFailed(
                "a switchover needs a running leader, and the cluster has none",
                hint="`neurmatic failover db` promotes the standby instead",
            )
        candidate = _failover_candidate(cluster)
        self.progress(f"patroni: switchover from {old.name} to {candidate.name}")
        self._act(old, "/switchover", {"leader": old.name, "candidate": candidate.name})
        return self._moved("switchover", old, candidate, started, unreplicated_bytes=0)

    def _moved(
        self, method: str, old: Member | None, new: Member, started: float, *, unreplicated_bytes: int | None
    ) -> FailoverResult:
        """Once Patroni has moved the lead: wait until clients write on ``new`` and the old leader is its
        synchronous standby again, and say so."""
        lsn = self._await_writes_on(new)
        old_now = self._old_leader_now(old)
        return FailoverResult(
            method=method,
            old_primary=old.name if old else "none",
            new_primary=new.name,
            elapsed_seconds=time.monotonic() - started,
            old_primary_now=old_now,
            promoted_at_lsn=lsn,
            follow_method="patroni" if old_now == "standby" else None,
            unreplicated_bytes=unreplicated_bytes,
        )

    def rebuild_standby(self) -> RebuildResult:
        """Patroni's reinitialize of every member that does not stream from the leader (a fresh base
        backup); a member that streams already is left alone."""
        started = time.monotonic()
        cluster = self.cluster()
        leader = cluster.leader
        if leader is None:
            raise FailoverFailed(
                "the cluster has no running leader to rebuild a standby from",
                hint="bring the leader's Patroni back (`neurmatic up`; see `neurmatic status`): Patroni "
                "promotes no standby that may lack acknowledged commits",
            )
        lagging = [m for m in cluster.members if not m.is_leader and m.state != "streaming"]
        if not lagging:
            names = ", ".join(m.name for m in cluster.members if not m.is_leader) or "no standby"
            if len(cluster.members) < 2:
                raise FailoverFailed(
                    "no standby is a member of the cluster (its Patroni is not running)",
                    hint="start it with `neurmatic up`",
                )
            self.progress(f"{names}: already streaming from {leader.name}; nothing to rebuild")
            return RebuildResult(names, leader.name, "none", time.monotonic() - started)
        target = lagging[0]
        self.progress(f"patroni: reinitialize {target.name} ({target.state}) from {leader.name}")
        self._act(target, "/reinitialize", {"force": True})
        seconds = wait_until(
            lambda: self._member_state(target.name) == "streaming",
            timeout=REINIT_TIMEOUT,
            failure=f"{target.name} did not stream from {leader.name} after Patroni's reinitialize",
            hint=f"see the log of {target.name}'s Patroni",
        )
        self.progress(f"{target.name}: streaming from {leader.name} ({seconds:.1f}s)")
        return RebuildResult(target.name, leader.name, "patroni reinitialize", time.monotonic() - started)

    def _act(self, member: Member, path: str, body: Mapping[str, object]) -> None:
        """POST ``body`` to ``member``'s Patroni; a Patroni still starting (its port not open yet) is
        given a few seconds, a refusal is an error in Patroni's words."""
        api = self._api(member)
        polled = poll(
            lambda: api.post(path, body, timeout=ACTION_TIMEOUT),
            timeout=REACH_TIMEOUT,
            interval=0.5,
            catch=(PatroniUnreachable,),
        )
        if not polled.done or polled.value is None:
            raise FailoverFailed(
                f"{member.name}'s Patroni at {member.api_url} does not answer ({polled.why})",
                hint="is that node's Patroni running? see `neurmatic status`",
            ) from polled.last_error
        reply = polled.value
        if reply.status not in (200, 202):
            raise FailoverFailed(
                f"Patroni refused {path.strip('/')} ({reply.status}): {reply.text.strip()[:300]}",
                hint="`neurmatic status` shows each node's Patroni state",
            )
        self.progress(f"patroni: {reply.text.strip()[:200]}")

    def _member_state(self, name: str) -> str | None:
        member = self.cluster().member(name)
        return member.state if member else None

    def _await_writes_on(self, new: Member) -> str:
        """Wait until the application's own URL writes on ``new``; return its WAL position then."""
        found: list[str] = []

        def writes_on_new() -> bool:
            with self.app.connect(autocommit=True) as conn:
                node = connected_node(conn)
                row = conn.execute("SELECT NOT pg_is_in_recovery(), pg_current_wal_lsn()::text").fetchone()
            if row and node == (new.host, new.port) and row[0]:
                found.append(str(row[1]))
                return True
            return False

        seconds = wait_until(
            writes_on_new,
            timeout=WRITABLE_TIMEOUT,
            failure=f"the application's DATABASE_URL does not reach {new.name} for writes",
            hint="check DATABASE_URL lists every node with target_session_attrs=read-write",
        )
        self.progress(f"{new.name}: leader, taking writes through the application's URL ({seconds:.1f}s)")
        return found[-1]

    def _old_leader_now(self, old: Member | None) -> str:
        """``standby`` once the old leader streams from the new one as its synchronous standby (Patroni
        rewinds and restarts it; until it is the synchronous one, no further failover or switchover is
        lossless); else what Patroni says it is doing after a while."""
        if old is None:
            return "none"

        def synchronous() -> bool:
            member = self.cluster().member(old.name)
            return member is not None and member.state == "streaming" and member.role == "sync_standby"

        try:
            wait_until(synchronous, timeout=REJOIN_TIMEOUT, failure=f"{old.name} did not rejoin")
        except FailoverFailed:
            member = self.cluster().member(old.name)
            what = f"{member.role} {member.state}" if member else "not a member: its Patroni is down"
            return f"not the synchronous standby yet ({what})"
        self.progress(f"{old.name}: rejoined as the synchronous standby")
        return "standby"


def _failover_candidate(cluster: Cluster) -> Member:
    """The synchronous standby if there is one streaming, else a streaming replica (Patroni still checks
    its lag against maximum_lag_on_failover)."""
    replicas = [m for m in cluster.members if not m.is_leader and m.state in SERVING_STATES]
    replicas.sort(key=lambda m: m.role != "sync_standby")
    if not replicas:
        states = ", ".join(f"{m.name} {m.role} {m.state}" for m in cluster.members) or "no members"
        raise FailoverFailed(
            f"no standby that Patroni could promote ({states})",
            hint="start or rebuild the standby (`neurmatic standby rebuild`) first",
        )
    return replicas[0]
