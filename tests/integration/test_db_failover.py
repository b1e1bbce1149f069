"""PostgreSQL failover, standby rebuild and switchover, and a Redis failover, on a topology of its own.

The tests run in file order and build on each other, as an operator's night would: the primary dies and
the standby is promoted (the old primary fenced), the old primary is rebuilt as a standby, a planned
switchover under a stream of inserts gives the primary role back without losing a commit, and Sentinel
swaps the Redis master. Measured figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

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

from neurmatic.adapters.redis import direct, sentinel_command
from neurmatic.db.url import DatabaseUrl
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.private_files import read_env_file
from neurmatic.supervisor.layout import HOST, SENTINEL_MASTER_NAME
from neurmatic.supervisor.services.postgres import NodeFenced, app_connection
from neurmatic.supervisor.topology import Topology
from tests.conftest import RunningTopology, started_topology
from tests.support import bearer, neurmatic, scalar, signed_in_token


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "dbfailover") as running:
        yield running
    strays = _processes_of(running.state_dir)
    for process in strays:  # ours (their command line names our state dir): never leave them behind
        process.kill()
    assert not strays, (
        f"processes outlived `neurmatic down`: {[p.cmdline() for p in strays]}; the worker's log ends:\n"
        + running.state.paths.log("worker").read_text(errors="replace")[-3000:]
    )


def _processes_of(state_dir: object) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
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


def _recent_bulk_write(topology: RunningTopology) -> None:
    """A few tens of MB written and replayed on the standby just before the failover: pages the promoted
    node must still flush, so its first checkpoint after the promotion (the one that records the new
    timeline in its control file) is still running when `standby rebuild` comes, as on a real database."""
    with app_connection(topology.state, 1) as primary:
        primary.execute(
            "CREATE TABLE failover_bulk AS SELECT g AS id, repeat('x', 200) AS filler "
            "FROM generate_series(1, 150000) AS g"
        )
        written = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 60
    with app_connection(topology.state, 2) as standby:
        while not scalar(standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", written)):
            assert time.monotonic() < deadline, "the standby did not replay the bulk write"
            time.sleep(0.1)


def _instance_health(topology: RunningTopology, index: int) -> dict[str, Any]:
    """The full report of one API instance, asked directly (the internal network sees the details)."""
    response = httpx.get(f"http://{HOST}:{topology.state.ports.api(index)}/api/v1/health", timeout=10)
    data: dict[str, Any] = response.json()["data"]
    return data


def test_failover_after_the_primary_is_killed_and_the_old_primary_stays_fenced(
    own_topology: RunningTopology,
) -> None:
    state = own_topology.state
    auth = _signed_in_user(own_topology)
    old = Topology(state).postgres[0]
    assert _roles(own_topology)["postgres-1"] == ("primary", "ready")
    _recent_bulk_write(own_topology)
    pid = old.running_pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the machine is gone: the postmaster and every backend at once
    killed_at = time.monotonic()

    result = _cli_json("failover", "db", "--yes", topology=own_topology)
    written_at = _first_write_through_nginx(own_topology, auth, timeout=60)
    seconds = written_at - killed_at
    print(
        f"\nSIGKILL → first write through nginx: {seconds:.1f}s "
        f"(the failover command itself: {result['elapsed_seconds']:.1f}s)"
    )
    assert (result["old_primary"], result["new_primary"], result["old_primary_now"]) == (
        "postgres-1",
        "postgres-2",
        "fenced",
    )
    assert seconds < 30
    assert (old.data_dir / "neurmatic.fenced").exists()

    # The service runs without a standby: degraded, not unhealthy; the fenced node is why, not a failure.
    health = neurmatic("health", "--json", state_dir=own_topology.state_dir, check=False)
    report = json.loads(health.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["postgres-1"]["status"] == "degraded", checks["postgres-1"]
    assert "fenced" in checks["postgres-1"]["detail"] and "standby rebuild" in checks["postgres-1"]["detail"]
    assert checks["postgres-2"]["status"] == "up", checks["postgres-2"]
    assert health.returncode == ExitCode.DEGRADED and report["status"] == "degraded", report

    # `up` brings everything else up but never the fenced node: one primary, and it says what to do.
    up = neurmatic("up", state_dir=own_topology.state_dir)
    assert "postgres-1: not started" in up.stderr and "neurmatic standby rebuild" in up.stderr
    roles = _roles(own_topology)
    assert roles["postgres-1"] == ("fenced", "stopped") and roles["postgres-2"] == ("primary", "ready")
    with pytest.raises(NodeFenced, match="must not start as a primary"):
        Topology(state).postgres[0].start()
    assert Topology(state).postgres[0].running_pid() is None
    again = neurmatic("failover", "db", "--yes", state_dir=own_topology.state_dir, check=False)
    assert again.returncode == ExitCode.FAILOVER_FAILED
    assert "already the primary" in again.stderr and "standby rebuild" in again.stderr


def test_rebuild_makes_the_fenced_node_a_streaming_standby_again(own_topology: RunningTopology) -> None:
    state = own_topology.state
    result = _cli_json("standby", "rebuild", topology=own_topology)
    print(f"\nstandby rebuild: {result['method']} in {result['elapsed_seconds']:.1f}s")
    assert result["fallback_reason"] is None, result["fallback_reason"]
    assert (result["node"], result["primary"], result["method"]) == ("postgres-1", "postgres-2", "pg_rewind")
    assert not (Topology(state).postgres[0].data_dir / "neurmatic.fenced").exists()
    assert _roles(own_topology)["postgres-1"] == ("standby", "ready")
    with own_topology.superuser(node=2) as primary:
        row = primary.execute(
            "SELECT state FROM pg_stat_replication WHERE application_name = 'postgres_1'"
        ).fetchone()
    assert row == ("streaming",)

    # Every API instance sees the rebuilt standby within seconds (not when its pool recycles).
    deadline = time.monotonic() + 20
    for index in (1, 2):
        while (replica := _instance_health(own_topology, index)["components"]["database_replica"])[
            "role"
        ] != "standby":
            assert time.monotonic() < deadline, f"backend-{index} still reports {replica}"
            time.sleep(0.2)
        assert replica["status"] == "up" and replica["streaming"] is True, replica

    marker = f"rebuilt-{uuid.uuid4().hex[:8]}"
    with app_connection(state, 2) as primary:
        primary.execute("CREATE TABLE IF NOT EXISTS failover_probe (id bigint PRIMARY KEY, note text)")
        primary.execute("INSERT INTO failover_probe VALUES (0, %s)", (marker,))
    deadline = time.monotonic() + 15
    with app_connection(state, 1) as standby:
        while not standby.execute("SELECT 1 FROM failover_probe WHERE note = %s", (marker,)).fetchone():
            assert time.monotonic() < deadline, "the row written on the new primary never reached the standby"
            time.sleep(0.1)
    assert _cli_json("standby", "rebuild", topology=own_topology)["method"] == "none"


class InsertStream:
    """Commits numbered inserts through the application's multi-host DATABASE_URL, reconnecting after
    any error; remembers only the ids whose COMMIT was acknowledged."""

    def __init__(self, topology: RunningTopology) -> None:
        url = read_env_file(topology.state_dir / "app.env")["DATABASE_URL"]
        self.dsn = DatabaseUrl.parse(url).driver_dsn()
        self.committed: list[tuple[int, float]] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_id = 1
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


def test_switchover_under_a_stream_of_inserts_loses_no_commit(own_topology: RunningTopology) -> None:
    state = own_topology.state
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
        "postgres-2",
        "postgres-1",
        "standby",
    )
    assert before >= 20 and len(stream.committed) >= before + 20, "the stream must run before and after"
    committed = {row_id for row_id, _ in stream.committed}
    with app_connection(state, 1) as primary:
        present = {row[0] for row in primary.execute("SELECT id FROM failover_probe WHERE id > 0")}
    assert committed <= present, f"lost commits: {sorted(committed - present)[:20]}"
    roles = _roles(own_topology)
    assert roles["postgres-1"] == ("primary", "ready") and roles["postgres-2"] == ("standby", "ready")


def _await_commits(stream: InsertStream, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(stream.committed) < count:
        assert time.monotonic() < deadline, f"only {len(stream.committed)} of {count} commits in {timeout:g}s"
        time.sleep(0.05)


def test_rebuild_falls_back_to_a_base_backup_when_the_standby_cannot_be_rewound(
    own_topology: RunningTopology,
) -> None:
    state = own_topology.state
    broken = Topology(state).postgres[1]
    broken.stop()
    (broken.data_dir / "global" / "pg_control").unlink()  # a damaged disk: pg_rewind cannot work on it
    result = _cli_json("standby", "rebuild", topology=own_topology)
    print(f"\nstandby rebuild by base backup: {result['elapsed_seconds']:.1f}s ({result['fallback_reason']})")
    assert (result["node"], result["method"]) == ("postgres-2", "pg_basebackup")
    assert "pg_controldata" in result["fallback_reason"]
    assert (
        not broken.data_dir.with_name("2.partial").exists()
        and not broken.data_dir.with_name("2.old").exists()
    )
    marker = f"cloned-{uuid.uuid4().hex[:8]}"
    with app_connection(state, 1) as primary:
        primary.execute("INSERT INTO failover_probe VALUES (-1, %s)", (marker,))
    deadline = time.monotonic() + 15
    with app_connection(state, 2) as standby:
        while not standby.execute("SELECT 1 FROM failover_probe WHERE note = %s", (marker,)).fetchone():
            assert time.monotonic() < deadline, "the rebuilt standby does not replay"
            time.sleep(0.1)
    assert _roles(own_topology)["postgres-2"] == ("standby", "ready")


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
