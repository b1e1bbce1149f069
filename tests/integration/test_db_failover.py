"""PostgreSQL high availability on Patroni, and a Redis failover, on a topology of its own.

The tests run in file order and build on each other, as an operator's night would: PostgreSQL dies on
the leader and Patroni promotes the standby with nobody acting; the leader's Patroni itself dies and stays
dead past its ttl (the split-brain trap) and no acknowledged write is lost; a planned switchover under a
stream of inserts loses no commit; a standby whose data is damaged is reinitialized; Sentinel swaps the
Redis master. Measured figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from neurmatic.adapters.patroni import first_cluster
from neurmatic.adapters.postgres import accepts_writes
from neurmatic.adapters.redis import direct, sentinel_command
from neurmatic.db.url import DatabaseUrl
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.services.postgres import PostgresNode, app_connection
from neurmatic.supervisor.topology import Topology
from tests.conftest import RunningTopology, started_topology
from tests.support import bearer, neurmatic, scalar, signed_in_token


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "dbfailover") as running:
        yield running
    # A process already exiting when `down` returned (a child a moment behind its parent) is given a
    # few seconds; what still runs then was left behind.
    _, running_on = psutil.wait_procs(_processes_of(running.state_dir), timeout=3)
    strays = {p.pid: _command_of(p) for p in running_on}
    for process in running_on:  # ours (their command line names our state dir): never leave them behind
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert not strays, (
        f"processes outlived `neurmatic down`: {strays}; the worker's log ends:\n"
        + running.state.paths.log("worker").read_text(errors="replace")[-3000:]
    )


def _command_of(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # it died (or became a zombie) since
        return "(gone)"


def _processes_of(state_dir: object) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:  # dead, not yet reaped: nothing runs
            continue
        if any(str(state_dir) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def _cli_json(*args: str, topology: RunningTopology) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(neurmatic(*args, "--json", state_dir=topology.state_dir).stdout)
    return out


def _signed_in_user(topology: RunningTopology) -> dict[str, str]:
    with topology.client() as client:
        return bearer(signed_in_token(client, "fo"))


def _first_write_through_nginx(topology: RunningTopology, auth: dict[str, str], timeout: float) -> float:
    """Update the profile (a database write) through nginx until it succeeds; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    with topology.client() as client:
        while True:
            bio = f"written after the failover {uuid.uuid4().hex[:6]}"
            response = client.patch("/api/v1/users/me", json={"bio": bio}, headers=auth)
            if response.status_code == 200 and response.json()["data"]["bio"] == bio:
                return time.monotonic()
            assert time.monotonic() < deadline, f"no write succeeded through nginx: {response.text}"
            time.sleep(0.1)


def _roles(topology: RunningTopology) -> dict[str, tuple[str, str]]:
    return {name: (str(s["role"]), str(s["state"])) for name, s in topology.status().items()}


def _recent_bulk_write(topology: RunningTopology, leader: PostgresNode) -> None:
    """A few tens of MB written and replayed on the standby just before the failover: pages the promoted
    node must still flush, so its first checkpoint after the promotion (the one that records the new
    timeline in its control file) is still running when `standby rebuild` comes, as on a real database."""
    standby_index = 3 - leader.index
    with app_connection(topology.state, leader.index) as primary:
        primary.execute(
            "CREATE TABLE failover_bulk AS SELECT g AS id, repeat('x', 200) AS filler "
            "FROM generate_series(1, 150000) AS g"
        )
        written = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 60
    with app_connection(topology.state, standby_index) as standby:
        while not scalar(standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", written)):
            assert time.monotonic() < deadline, "the standby did not replay the bulk write"
            time.sleep(0.1)


def _instance_health(topology: RunningTopology, index: int) -> dict[str, Any]:
    """The full report of one API instance, asked directly (the internal network sees the details)."""
    response = httpx.get(f"http://{HOST}:{topology.state.ports.api(index)}/api/v1/health", timeout=10)
    data: dict[str, Any] = response.json()["data"]
    return data


class InsertStream:
    """Commits numbered inserts through the application's multi-host DATABASE_URL, reconnecting after
    any error; remembers only the ids whose COMMIT was acknowledged."""

    def __init__(self, topology: RunningTopology) -> None:
        url = read_env_file(topology.state_dir / "app.env")["DATABASE_URL"]
        self.dsn = DatabaseUrl.parse(url).driver_dsn()
        with psycopg.connect(self.dsn, autocommit=True) as conn:  # each stream numbers after the last
            conn.execute("CREATE TABLE IF NOT EXISTS failover_probe (id bigint PRIMARY KEY, note text)")
            self.first_id = int(scalar(conn.execute("SELECT COALESCE(max(id), 0) + 1 FROM failover_probe")))
        self.committed: list[tuple[int, float]] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_id = self.first_id
        conn: psycopg.Connection[Any] | None = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, connect_timeout=2)
                conn.execute("INSERT INTO failover_probe (id) VALUES (%s)", (next_id,))
                conn.commit()
                self.committed.append((next_id, time.monotonic()))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
            next_id += 1  # an id whose commit failed is never reused: its fate is unknown, not lost
        if conn is not None:
            conn.close()

    def longest_gap(self) -> float:
        times = [at for _, at in self.committed]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _leader(topology: RunningTopology) -> PostgresNode:
    """The node Patroni names the leader (it must be one that runs)."""
    leader = Topology(topology.state).patroni_leader()
    assert leader is not None, "Patroni names no running leader"
    return leader


def _other(topology: RunningTopology, node: PostgresNode) -> PostgresNode:
    return next(n for n in Topology(topology.state).postgres if n.name != node.name)


def _await_whole(topology: RunningTopology, timeout: float = 90) -> float:
    """Wait until Patroni reports a running leader and every other member streaming, one of them its
    synchronous standby (until then Patroni would promote nobody); the seconds taken."""
    started = time.monotonic()
    while True:
        cluster = first_cluster([node.api for node in Topology(topology.state).postgres])
        others = [m for m in cluster.members if not m.is_leader]
        streaming = others and all(m.state == "streaming" for m in others)
        if cluster.leader is not None and streaming and any(m.role == "sync_standby" for m in others):
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"the cluster is not whole: {cluster}"
        time.sleep(0.2)


def _assert_nothing_lost(topology: RunningTopology, stream: InsertStream) -> None:
    committed = {row_id for row_id, _ in stream.committed}
    leader = _leader(topology)
    with app_connection(topology.state, leader.index) as primary:
        present = {row[0] for row in primary.execute("SELECT id FROM failover_probe WHERE id > 0")}
    assert committed <= present, f"acknowledged commits lost: {sorted(committed - present)[:20]}"


def test_patroni_fails_over_by_itself_when_postgres_dies_on_the_leader(own_topology: RunningTopology) -> None:
    auth = _signed_in_user(own_topology)
    old = _leader(own_topology)
    assert _roles(own_topology)[old.name] == ("primary", "ready")
    _recent_bulk_write(own_topology, old)
    stream = InsertStream(own_topology)
    stream.thread.start()
    try:
        _await_commits(stream, 20)
        postmaster = old.postmaster_pid()
        assert postmaster is not None
        os.killpg(os.getpgid(postmaster), signal.SIGKILL)  # the database and every backend at once
        killed_at = time.monotonic()
        # Nobody runs a command: Patroni notices, gives up the key, the synchronous standby takes it.
        written_at = _first_write_through_nginx(own_topology, auth, timeout=60)
        _await_commits(stream, len(stream.committed) + 20)
    finally:
        stream.stop.set()
        stream.thread.join(timeout=10)
    seconds = written_at - killed_at
    new = _leader(own_topology)
    print(
        f"\npostmaster SIGKILL → first write through nginx: {seconds:.2f}s ({old.name} → {new.name}); "
        f"{len(stream.committed)} commits, longest pause {stream.longest_gap():.2f}s"
    )
    assert new.name != old.name and seconds < 10
    _assert_nothing_lost(own_topology, stream)
    rejoin = _await_whole(own_topology)  # Patroni rewinds the old leader into a replica by itself
    print(f"{old.name} streams again {rejoin:.1f}s later")
    assert _roles(own_topology)[old.name] == ("standby", "ready")

    report = json.loads(neurmatic("health", "--json", state_dir=own_topology.state_dir, check=False).stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["patroni"]["status"] == "up" and f"leader {new.name}" in checks["patroni"]["detail"], checks


def test_a_dead_patroni_left_dead_past_its_ttl_loses_no_acknowledged_write(
    own_topology: RunningTopology,
) -> None:
    """The split-brain trap: the leader's Patroni dies (kept dead here by a hold file, as if restarting
    failed) while its PostgreSQL runs on. The key expires, the standby is promoted; the orphaned old
    primary still accepts connections, but with synchronous replication it acknowledges no commit; once
    Patroni is back it demotes its node and every acknowledged write is on the new primary."""
    state = own_topology.state
    _await_whole(own_topology)
    old = _leader(own_topology)
    new = _other(own_topology, old)
    stream = InsertStream(own_topology)
    stream.thread.start()
    hold = state.paths.hold(old.name)
    try:
        _await_commits(stream, 20)
        hold.touch()  # the watcher leaves the node alone
        pid = old.running_pid()
        assert pid is not None and old.postmaster_pid() is not None
        os.kill(pid, signal.SIGKILL)  # Patroni alone: its postmaster runs in a session of its own
        killed_at = time.monotonic()
        assert old.postmaster_pid() is not None, "the postmaster must outlive its Patroni"
        deadline = killed_at + 60
        while not accepts_writes(new.endpoint):
            assert time.monotonic() < deadline, f"{new.name} was not promoted after the ttl"
            time.sleep(0.2)
        promoted_after = time.monotonic() - killed_at
        orphan_writable = accepts_writes(old.endpoint)  # the trap: two nodes out of recovery
        acknowledged_at_promotion = len(stream.committed)
        time.sleep(3)  # the orphan keeps its clients; they must get no acknowledgement from it
        acknowledged_by_orphan = len(stream.committed) - acknowledged_at_promotion
        hold.unlink()  # the watcher restarts Patroni, which demotes its node
        _await_commits(stream, len(stream.committed) + 20, timeout=90)
    finally:
        hold.unlink(missing_ok=True)
        stream.stop.set()
        stream.thread.join(timeout=30)
    print(
        f"\nPatroni of {old.name} dead: {new.name} promoted {promoted_after:.1f}s later (ttl 20 s); "
        f"orphan writable then: {orphan_writable}; "
        f"commits it acknowledged meanwhile: {acknowledged_by_orphan}; "
        f"{len(stream.committed)} commits in all, {stream.errors} failed attempts"
    )
    assert promoted_after >= 10, "promoted before the leader key could expire"
    _assert_nothing_lost(own_topology, stream)
    _await_whole(own_topology)
    assert _leader(own_topology).name == new.name


def test_switchover_under_a_stream_of_inserts_loses_no_commit(own_topology: RunningTopology) -> None:
    _await_whole(own_topology)
    old = _leader(own_topology)
    new = _other(own_topology, old)
    stream = InsertStream(own_topology)
    stream.thread.start()
    try:
        _await_commits(stream, 20)  # the stream runs before the swap...
        before = len(stream.committed)
        result = _cli_json("failover", "db", "--switchover", "--yes", topology=own_topology)
        _await_commits(stream, before + 20)  # ...and after it
    finally:
        stream.stop.set()
        stream.thread.join(timeout=10)
    print(
        f"\nswitchover: {result['elapsed_seconds']:.1f}s; longest pause between commits "
        f"{stream.longest_gap():.1f}s; {len(stream.committed)} commits, {stream.errors} failed attempts"
    )
    assert (result["old_primary"], result["new_primary"], result["old_primary_now"]) == (
        old.name,
        new.name,
        "standby",
    )
    assert before >= 20 and len(stream.committed) >= before + 20, "the stream must run before and after"
    _assert_nothing_lost(own_topology, stream)
    roles = _roles(own_topology)
    assert roles[new.name] == ("primary", "ready") and roles[old.name] == ("standby", "ready")


def _await_commits(stream: InsertStream, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(stream.committed) < count:
        assert time.monotonic() < deadline, f"only {len(stream.committed)} of {count} commits in {timeout:g}s"
        time.sleep(0.05)


def test_standby_rebuild_reinitializes_a_damaged_standby_through_patroni(
    own_topology: RunningTopology,
) -> None:
    state = own_topology.state
    assert _cli_json("standby", "rebuild", topology=own_topology)["method"] == "none"  # it streams
    leader = _leader(own_topology)
    broken = _other(own_topology, leader)
    broken.stop()  # Patroni stops its PostgreSQL with it
    (broken.data_dir / "global" / "pg_control").unlink()  # a damaged disk: this data cannot start
    broken.start()  # Patroni runs, its PostgreSQL cannot: a member that does not stream
    result = _cli_json("standby", "rebuild", topology=own_topology)
    print(f"\nstandby rebuild (Patroni reinitialize): {result['elapsed_seconds']:.1f}s")
    assert (result["node"], result["primary"], result["method"]) == (
        broken.name,
        leader.name,
        "patroni reinitialize",
    )
    marker = f"cloned-{uuid.uuid4().hex[:8]}"
    with app_connection(state, leader.index) as primary:
        primary.execute("INSERT INTO failover_probe VALUES (-1, %s)", (marker,))
    deadline = time.monotonic() + 15
    with app_connection(state, broken.index) as standby:
        while not standby.execute("SELECT 1 FROM failover_probe WHERE note = %s", (marker,)).fetchone():
            assert time.monotonic() < deadline, "the rebuilt standby does not replay"
            time.sleep(0.1)
    # It replays; its status follows once Patroni and the status probe have seen it (a loaded machine
    # once answered "unhealthy" at the first look).
    deadline = time.monotonic() + 30
    while (role := _roles(own_topology)[broken.name]) != ("standby", "ready"):
        assert time.monotonic() < deadline, role
        time.sleep(0.5)


def test_redis_failover_swaps_the_master_and_every_sentinel_agrees(own_topology: RunningTopology) -> None:
    state = own_topology.state
    result = _cli_json("failover", "redis", topology=own_topology)
    print(
        f"\nredis failover: {result['old_master']} → {result['new_master']} "
        f"in {result['elapsed_seconds']:.1f}s"
    )
    new_port = state.ports.redis(2)
    assert result["new_master"] == f"redis-2 ({HOST}:{new_port})" and result["old_master_now"] == "replica"
    assert result["sentinels_agreeing"] == 3
    for index in (1, 2, 3):
        sentinel = direct(HOST, state.ports.sentinel(index), state.secrets["REDIS_SENTINEL_PASSWORD"])
        try:
            address = sentinel_command(sentinel, "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME)
        finally:
            sentinel.close()
        assert address == [HOST, str(new_port)]
    roles = _roles(own_topology)
    assert roles["redis-1"] == ("replica", "ready") and roles["redis-2"] == ("master", "ready")
