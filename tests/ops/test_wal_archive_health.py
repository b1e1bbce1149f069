"""The WAL archive's state in ``neurmatic health``, in the API's health report and in its metrics: ok while
archiving works; a warning while it fails for real (``archive_command = 'false'`` on the primary); ok
again once it works.

The break is brief and on the session topology: PostgreSQL keeps every segment it could not archive and
pushes it once the command works again, so nothing is lost; the setting is restored in a ``finally``
whatever the test found, and the test waits until the archive has caught up before it ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.supervisor.topology import Topology
from neurmatic.wal_archive import ARCHIVER_QUERY, ArchiverState
from tests.api.conftest import api_client
from tests.conftest import RunningTopology
from tests.support import neurmatic

Connection = psycopg.Connection[tuple[Any, ...]]


def _primary(topology: RunningTopology) -> Connection:
    leader = Topology(topology.state).patroni_leader()
    assert leader is not None, "Patroni names no running leader"
    return topology.superuser(node=leader.index)


def _archiver(conn: Connection) -> ArchiverState:
    row = conn.execute(ARCHIVER_QUERY).fetchone()
    assert row is not None
    return ArchiverState.from_row(row)


def _close_a_segment_and_wait(conn: Connection, until: Callable[[ArchiverState], bool]) -> ArchiverState:
    """Write (an assigned transaction id commits a WAL record), close the segment, and wait until the
    archiver's state satisfies ``until``."""
    conn.execute("SELECT txid_current()")
    conn.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 60
    while not until(state := _archiver(conn)):
        assert time.monotonic() < deadline, f"the archiver did not get there: {state}"
        time.sleep(0.3)
    return state


def _archived(state: ArchiverState) -> bool:
    return not state.failing and state.pending_segments == 0


@contextmanager
def _archiving_fails(topology: RunningTopology) -> Iterator[Connection]:
    """``archive_command = 'false'`` on the primary while the block runs; restored whatever happens."""
    conn = _primary(topology)
    try:
        conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        conn.execute("SELECT pg_reload_conf()")
        yield conn
    finally:
        conn.close()
        with _primary(topology) as restore:  # a fresh connection: the block may have broken its own
            restore.execute("ALTER SYSTEM RESET archive_command")
            restore.execute("SELECT pg_reload_conf()")


def _cli_check(topology: RunningTopology) -> tuple[int, dict[str, Any]]:
    result = neurmatic("health", "--json", state_dir=topology.state_dir, check=False)
    report = json.loads(result.stdout)
    return result.returncode, next(c for c in report["checks"] if c["name"] == "wal archive")


async def _api_view(topology: RunningTopology) -> tuple[int, dict[str, Any], dict[str, float]]:
    """The instance's health status code, its ``wal_archive`` component and the archive's gauges of a
    scrape (the test client is a direct peer: the full report, and the internal scrape endpoint)."""
    async with api_client(topology.app_settings()) as client:
        health = await client.get("/api/v1/health")
        scrape = await client.get("/internal/metrics")
    assert scrape.status_code == 200, scrape.text
    gauges = {
        sample.name: sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name.startswith("neurmatic_wal_archive")
    }
    return health.status_code, health.json()["data"]["components"]["wal_archive"], gauges


async def test_a_working_archive_is_ok_everywhere(topology: RunningTopology) -> None:
    with _primary(topology) as conn:
        state = _close_a_segment_and_wait(conn, _archived)
    _, check = _cli_check(topology)
    assert check["status"] == "up", check
    assert check["detail"].startswith("last archived 0000") and ", 0 waiting" in check["detail"]
    status, component, gauges = await _api_view(topology)
    assert status == 200 and component["status"] == "up", component
    assert component["pending_segments"] == 0 and component["last_archived_age_seconds"] < 60
    assert component["last_archived_wal"] >= state.last_archived_wal  # the same archive, maybe further on
    assert gauges["neurmatic_wal_archive_failing"] == 0
    assert gauges["neurmatic_wal_archive_pending_segments"] == 0
    assert 0 <= gauges["neurmatic_wal_archive_last_success_age_seconds"] < 60
    assert gauges["neurmatic_wal_archive_archived_total"] >= state.archived_count


async def test_a_failing_archive_warns_and_recovers(topology: RunningTopology) -> None:
    with _primary(topology) as conn:
        before = _close_a_segment_and_wait(conn, _archived)
    with _archiving_fails(topology) as conn:
        failing = _close_a_segment_and_wait(conn, lambda state: state.failing)
        code, check = _cli_check(topology)
        status, component, gauges = await _api_view(topology)
    assert failing.failed_count > before.failed_count
    assert check["status"] == "degraded" and check["detail"].startswith("failing: "), check
    assert code == ExitCode.DEGRADED  # a warning: nothing is down
    # Not critical to serving: the instance stays in service, and says why it is degraded.
    assert status == 200 and component["status"] == "degraded", component
    assert component["reason"].startswith("failing: ") and component["failed_count"] >= failing.failed_count
    assert gauges["neurmatic_wal_archive_failing"] == 1
    assert gauges["neurmatic_wal_archive_failed_total"] >= failing.failed_count
    with _primary(topology) as conn:  # the waiting segments go as soon as the command works again
        _close_a_segment_and_wait(conn, _archived)
    assert _cli_check(topology)[1]["status"] == "up"
    _, component, gauges = await _api_view(topology)
    assert component["status"] == "up" and gauges["neurmatic_wal_archive_failing"] == 0
