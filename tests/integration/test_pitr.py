"""Point-in-time recovery on pgBackRest, on a topology of its own (the recovery replaces its cluster).

In file order, as an operator would: the topology archives from its first minute (a full backup taken
on bring-up); a physical backup; rows written, a moment noted, more rows written; the plan for that
moment (dry run) and the refusals of targets the repository cannot reach; the recovery itself, exact to
the committed row, with the standby rebuilt; the physical restore test, and the same test catching a
deliberately damaged repository file.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from neurmatic.adapters.patroni import first_cluster
from neurmatic.supervisor.services.postgres import patroni_api
from tests.conftest import RunningTopology, started_topology
from tests.support import ROOT, neurmatic

PROBE = "pitr_probe"


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "pitr") as running:
        yield running


def _rows(topology: RunningTopology) -> list[int]:
    with topology.superuser("neurmatic_production", node=_leader_node(topology)) as conn:
        return [row[0] for row in conn.execute(f"SELECT id FROM {PROBE} ORDER BY id")]


def _leader_node(topology: RunningTopology) -> int:
    cluster = first_cluster([patroni_api(topology.state, i) for i in (1, 2)])
    assert cluster.leader is not None, "no Patroni leader"
    return int(cluster.leader.name.rsplit("-", 1)[1])


def _insert(topology: RunningTopology, ids: range) -> None:
    with topology.superuser("neurmatic_production", node=_leader_node(topology)) as conn:
        for row_id in ids:  # one commit each: the recovery must stop between two of them
            conn.execute(f"INSERT INTO {PROBE} (id) VALUES (%s)", (row_id,))


def _cli(*args: str, topology: RunningTopology, check: bool = True) -> Any:
    return neurmatic(*args, state_dir=topology.state_dir, check=check, timeout=600)


@pytest.fixture(scope="module")
def moment(own_topology: RunningTopology) -> datetime:
    """Rows 1-20 committed, the moment after them, then rows 21-30: the recovery target."""
    with own_topology.superuser("neurmatic_production") as conn:
        conn.execute(f"CREATE TABLE {PROBE} (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        conn.execute(f"ALTER TABLE {PROBE} OWNER TO neurmatic")  # as the application's own tables are
    made = json.loads(_cli("backup", "--physical", "--type", "incr", "--json", topology=own_topology).stdout)
    assert [(b["type"], b["repo"]) for b in made] == [("incr", 1)] and made[0]["label"].endswith("I")
    # pgBackRest gives a backup's stop in whole seconds, so the plan takes a backup only for moments a
    # second past it: the moment must come later than that, or the full backup before it is (rightly) chosen.
    time.sleep(2.0)
    _insert(own_topology, range(1, 21))
    with own_topology.superuser() as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    _insert(own_topology, range(21, 31))
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]


def test_the_dry_run_names_the_backup_and_changes_nothing(
    own_topology: RunningTopology, moment: datetime
) -> None:
    out = _cli("restore", "--to", moment.isoformat(sep=" "), "--dry-run", "--json", topology=own_topology)
    plan = json.loads(out.stdout)
    assert plan["backup"]["type"] == "incr"  # the newest backup that ended before the moment
    assert datetime.fromisoformat(plan["backup"]["stopped"]) <= moment
    assert _rows(own_topology) == list(range(1, 31))


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (["--to", "2020-01-01 00:00:00+00"], "before the oldest backup"),
        (["--to", "2099-01-01 00:00:00+00"], "after the newest archived WAL"),
        (["--to-lsn", "0/0"], "before the end of the oldest backup"),
        (["--to", "yesterday at noon"], "is not a time"),
        (["--to-lsn", "12345"], "is not a WAL position"),
        (["--to", "2026-11-26 17:04:59"], "names no time zone"),
        (["--to-lsn", "FFFFFFFF/FFFFFFFF"], "after the end of the archive"),
    ],
)
def test_targets_the_repository_cannot_reach_are_refused_with_the_range(
    own_topology: RunningTopology, moment: datetime, target: list[str], why: str
) -> None:
    result = _cli("restore", *target, "--yes", topology=own_topology, check=False)
    assert result.returncode == 13, result.stderr
    assert why in result.stderr
    if "before" in why or "after" in why:
        assert re.search(r"recoverable \d{4}-\d\d-\d\d .* to \d{4}-\d\d-\d\d", result.stderr), result.stderr
    assert _rows(own_topology) == list(range(1, 31))


def test_two_targets_at_once_are_a_usage_error(own_topology: RunningTopology) -> None:
    result = _cli("restore", "--to-latest", "--to-lsn", "0/3000000", topology=own_topology, check=False)
    assert result.returncode == 2 and "give one" in result.stderr


def test_restore_table_to_the_second_before_a_damage_brings_back_every_row_it_took(
    own_topology: RunningTopology, moment: datetime
) -> None:
    with own_topology.superuser() as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    before_damage = row[0].astimezone(UTC).isoformat(sep=" ")
    with own_topology.superuser("neurmatic_production", node=_leader_node(own_topology)) as conn:
        conn.execute(f"DELETE FROM {PROBE} WHERE id BETWEEN 5 AND 25")  # the damage
    args = ("restore-table", "--to", before_damage, "--table", PROBE, "--json")
    dry = json.loads(_cli(*args, "--dry-run", topology=own_topology).stdout)
    assert [(t["table"], t["missing"], t["applied"]) for t in dry["tables"]] == [
        (f"public.{PROBE}", 21, False)
    ]
    assert _rows(own_topology) == [*range(1, 5), *range(26, 31)]  # a dry run changes nothing
    done = json.loads(_cli(*args, topology=own_topology).stdout)
    assert done["tables"][0]["applied"] and done["tables"][0]["missing"] == 21
    assert _rows(own_topology) == list(range(1, 31))  # not one committed row lost
    scratch = own_topology.state.paths.pgbackrest / "scratch"
    assert not list(scratch.glob("*/data")), "the recovered copy was left behind"


BEFORE_SWAP: list[datetime] = []  # the moment just before the first recovery replaced rows 1-30


def test_recovery_to_the_moment_keeps_every_row_committed_before_it_and_none_after(
    own_topology: RunningTopology, moment: datetime
) -> None:
    assert _rows(own_topology) == list(range(1, 31))
    BEFORE_SWAP.append(_now(own_topology))
    started = time.monotonic()
    result = _cli("restore", "--to", moment.isoformat(sep=" "), "--yes", topology=own_topology)
    took = time.monotonic() - started
    assert _rows(own_topology) == list(range(1, 21)), result.stderr
    print(f"\npoint-in-time recovery, swap and standby rebuild: {took:.1f}s")
    status = own_topology.status()
    assert status["postgres-1"]["role"] == "primary" and status["postgres-1"]["state"] == "ready"
    assert status["postgres-2"]["state"] == "ready" and "sync_standby" in status["postgres-2"]["detail"]
    with own_topology.client() as client:  # the API follows by itself
        deadline = time.monotonic() + 30
        while client.get("/api/v1/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the API did not come back after the recovery"
            time.sleep(0.5)
    _insert(own_topology, range(21, 23))  # and takes writes again, archived on the new timeline
    assert _rows(own_topology) == list(range(1, 23))


def test_an_interrupted_swap_puts_the_live_cluster_back(own_topology: RunningTopology) -> None:
    """SIGTERM (a closed terminal, a CI timeout) while the recovered data is being swapped in: the live
    data goes back in place and runs again, and nothing holds the watcher off."""
    before = _rows(own_topology)
    argv = [sys.executable, "-m", "neurmatic", "restore", "--to-latest", "--yes"]
    argv += ["--state-dir", str(own_topology.state_dir)]
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, cwd=ROOT) as cli:
        assert cli.stderr is not None
        seen = []
        for line in cli.stderr:
            seen.append(line)
            if "the restored data is postgres-1's" in line:
                cli.send_signal(signal.SIGTERM)
                break
        rest = cli.stderr.read()
        code = cli.wait(timeout=300)
    assert code == 10, "".join(seen) + rest
    assert "the live cluster runs again" in rest, rest
    assert _rows(own_topology) == before
    paths = own_topology.state.paths
    assert not list(paths.run.glob("*.hold")), "hold files left: the watcher would not restart the nodes"
    assert not list((paths.pgbackrest / "scratch").glob("*/data")), "the recovered copy was left behind"
    assert own_topology.status()["postgres-1"]["state"] == "ready"


def test_a_moment_only_the_replaced_history_holds_recovers_on_that_history(
    own_topology: RunningTopology,
) -> None:
    """After a recovery to 'moment', rows 21-30 still existed on the replaced timeline until the swap:
    recovering to just before that swap brings them back (PostgreSQL alone would follow the newest
    timeline and give the recovered history's rows 1-22)."""
    target = BEFORE_SWAP[0].isoformat(sep=" ")
    plan = json.loads(_cli("restore", "--to", target, "--dry-run", "--json", topology=own_topology).stdout)
    assert "on timeline" in plan["target"], plan
    _cli("restore", "--to", target, "--yes", topology=own_topology)
    assert _rows(own_topology) == list(range(1, 31))


def _now(topology: RunningTopology) -> datetime:
    with topology.superuser() as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]


def test_the_physical_restore_test_passes_and_catches_a_damaged_file(own_topology: RunningTopology) -> None:
    passed = _cli("backup", "verify", "--physical", topology=own_topology)
    assert "restore and replay" in passed.stderr
    segment = _archived_segments(own_topology)[-1]
    intact = segment.read_bytes()
    damaged = bytearray(intact)
    damaged[len(damaged) // 2] ^= 0xFF
    segment.write_bytes(bytes(damaged))
    try:
        failed = _cli("backup", "verify", "--physical", topology=own_topology, check=False)
    finally:
        segment.write_bytes(intact)
    assert failed.returncode == 11, failed.stderr
    # pgBackRest counts a file that does not decrypt or decompress as "other", one that does but whose
    # content differs as "checksum invalid": either way, one damaged file named.
    assert "damaged" in failed.stderr
    assert re.search(r"(other|checksum invalid): 1\b", failed.stderr), failed.stderr


def test_a_gap_in_the_archive_stops_recovery_before_anything_live_changes(
    own_topology: RunningTopology,
) -> None:
    before = _rows(own_topology)
    newest_backup = json.loads(
        _cli("restore", "--to-latest", "--dry-run", "--json", topology=own_topology).stdout
    )
    stop = newest_backup["backup"]["wal_stop"]  # its timeline, and the last segment it needs itself
    after_backup = [
        p for p in _archived_segments(own_topology) if p.name[:8] == stop[:8] and p.name[:24] > stop
    ]
    assert after_backup, "no archived WAL after the newest backup on its timeline"
    missing = after_backup[0]
    held = missing.with_name(missing.name + ".held")
    missing.rename(held)
    try:
        result = _cli("restore", "--to-latest", "--yes", topology=own_topology, check=False)
    finally:
        held.rename(missing)
    assert result.returncode == 13, result.stderr
    assert "recoverable" in result.stderr and "nothing live was changed" in result.stderr
    assert _rows(own_topology) == before
    assert not list((own_topology.state.paths.pgbackrest / "scratch").glob("*/data"))


def _archived_segments(topology: RunningTopology) -> list[Path]:
    """The WAL segments in repository 1, oldest first (names: segment, dash, checksum; no .history)."""
    archive = topology.state.paths.pgbackrest_repo / "archive"
    return sorted(p for p in archive.rglob("0000000*.zst") if len(p.name) > 40)


def test_after_a_switchover_the_new_primary_archives_and_backs_up(own_topology: RunningTopology) -> None:
    """The archive follows whichever node is primary (archive_mode=on on both, the same repository)."""
    before = _leader_node(own_topology)
    _cli("failover", "db", "--switchover", "--yes", topology=own_topology)
    after = _leader_node(own_topology)
    assert after != before
    with own_topology.superuser(node=after) as conn:
        archived = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
        conn.execute("SELECT pg_switch_wal()")
    made = json.loads(_cli("backup", "--physical", "--type", "incr", "--json", topology=own_topology).stdout)
    assert made[0]["type"] == "incr"  # pgBackRest backs up from the new primary
    with own_topology.superuser(node=after) as conn:
        now = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
    assert archived is not None and now is not None and now[0] > archived[0]
