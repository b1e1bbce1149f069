"""``deployment.archive.ArchiveControl`` for the local topology: pgBackRest on the leader's node, and the
swap that makes a restored cluster the live one.

The swap is Patroni's documented way to restore a cluster: stop every member, remove the cluster from
the DCS (``patronictl remove``), start one member on the restored data (Patroni adopts a data directory
it finds when the DCS holds no cluster, and becomes its leader), then let the others clone themselves.
The live data directories are moved aside, not deleted, until the restored cluster runs with its
standby; a swap that fails leaves them there and says where.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.adapters.commands import run
from neurmatic.adapters.patroni import PatroniUnreachable
from neurmatic.adapters.pgbackrest import PgBackRest
from neurmatic.deployment.archive import Step
from neurmatic.render.patroni import CLUSTER_SCOPE
from neurmatic.supervisor import archiving
from neurmatic.supervisor.state import TopologyState

if TYPE_CHECKING:
    from neurmatic.supervisor.services.postgres import PostgresNode
    from neurmatic.supervisor.topology import Topology


class LocalArchive:
    def __init__(self, state: TopologyState) -> None:
        self.state = state

    @property
    def account(self) -> str | None:
        return self.state.account.name

    @property
    def forks_file(self) -> Path:
        return self.state.paths.pgbackrest / "recoveries.json"

    def pgbackrest(self) -> PgBackRest:
        from neurmatic.supervisor.topology import Topology

        try:
            leader = Topology(self.state).patroni_leader()
        except PatroniUnreachable:  # the cluster is down: listing and recovering need no server
            leader = None
        # Without a leader, node 1's configuration still reads the repositories and restores from them;
        # a backup then fails with pgBackRest's own word (no primary to back up).
        return archiving.pgbackrest(self.state, leader.index if leader else 1)

    def scratch_dir(self, label: str) -> Path:
        directory = self.state.paths.pgbackrest / "scratch" / label
        directory.mkdir(parents=True, mode=0o700)
        self.state.account.own(directory.parent, directory)
        return directory

    def swap_in(self, restored: Path, step: Step) -> None:
        """Until the recovered cluster's leader takes writes, any failure or interruption puts the live
        data back and starts it again; after that the recovered cluster is the live one, and what is
        left (a new baseline, the standby) is finished or reported, never undone."""
        from neurmatic.supervisor.topology import Topology

        topology = Topology(self.state)
        nodes = topology.postgres
        holds = [self.state.paths.hold(node.name) for node in nodes]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = {node.index: node.data_dir.with_name(f"{node.index}.replaced-{stamp}") for node in nodes}
        for hold in holds:  # the watcher must not restart what this stops
            hold.touch()
        try:
            leader = topology.patroni_leader()
            live_order = sorted(nodes, key=lambda n: n is not leader)  # the leader first, to start
            try:
                self._take_over(topology, restored, aside, step)
            except BaseException:
                self._put_back(topology, restored, aside, live_order, step)
                raise
            try:
                self._complete(topology, step)
            except BaseException:
                step(
                    "the recovered cluster is live, but its new baseline backup or its standby did not "
                    "finish: `neurmatic backup --physical --type full`, then `neurmatic up`"
                )
                raise
        finally:
            for hold in holds:
                hold.unlink(missing_ok=True)
        for path in aside.values():
            shutil.rmtree(path, ignore_errors=True)

    def _take_over(self, topology: Topology, restored: Path, aside: dict[int, Path], step: Step) -> None:
        """Every node stopped, the cluster out of etcd, the recovered data postgres-1's, its leader up."""
        from neurmatic.supervisor.runner import await_leader

        nodes = topology.postgres
        leader = topology.patroni_leader()
        for node in sorted(nodes, key=lambda n: n is leader):  # standbys first, as `down` does
            node.stop()
        step("PostgreSQL stopped on every node")
        self._remove_from_dcs(nodes[0].environment())
        step("the cluster's state removed from etcd (patronictl remove)")
        for node in nodes:
            if node.data_dir.exists():
                node.data_dir.rename(aside[node.index])
        first = nodes[0]
        restored.rename(first.data_dir)
        self.state.account.own(first.data_dir)
        step(f"the restored data is {first.name}'s; the live data kept in {aside[first.index]} until the end")
        first.prepare()
        first.start()
        first.wait_ready()
        await_leader(topology, step)

    def _put_back(
        self,
        topology: Topology,
        restored: Path,
        aside: dict[int, Path],
        live_order: list[PostgresNode],
        step: Step,
    ) -> None:
        """Undo a take-over that did not finish: the live data back in place, the cluster started again."""
        from neurmatic.supervisor.runner import await_leader

        step("the swap stopped before the recovered cluster took over: putting the live data back")
        for node in topology.postgres:
            node.stop()
        with contextlib.suppress(Exception):  # the recovered leader may have registered the cluster
            self._remove_from_dcs(topology.postgres[0].environment())
        for node in topology.postgres:
            if aside[node.index].exists():
                if (
                    node.data_dir.exists()
                ):  # the recovered data (postgres-1's): back where the caller discards it
                    node.data_dir.rename(restored)
                aside[node.index].rename(node.data_dir)
        for node in live_order:  # the node that led first, so it leads again
            node.prepare()
            node.start()
            node.wait_ready()
            if node is live_order[0]:
                await_leader(topology, step)
        step("the live cluster runs again, as it was")

    def _complete(self, topology: Topology, step: Step) -> None:
        """A new baseline on the new timeline (standbys are restored from it, and a later recovery has a
        backup after this one's branch point), then the standbys."""
        from neurmatic.supervisor.runner import await_sync_standby

        first, *others = topology.postgres
        tool = archiving.pgbackrest(self.state, first.index)
        tool.stanza_create()  # a repository this host never wrote to (rebuilt after its loss)
        for repo in tool.repos:
            tool.backup("full", repo=repo)
            step(f"pgbackrest: a full backup of the restored cluster taken into repo{repo}")
        archiving.foreign_marker(self.state).unlink(missing_ok=True)  # the repositories are ours
        for node in others:
            node.prepare()
            node.start()
            node.wait_ready()
        await_sync_standby(topology, step)

    def _remove_from_dcs(self, environment: dict[str, str]) -> None:
        """``patronictl remove``, answering its confirmations (it reads the node's configuration, whose
        secrets come from the environment Patroni runs with)."""
        patronictl = Path(sys.executable).with_name("patronictl")
        config = self.state.paths.patroni_config(1)
        answers = f"{CLUSTER_SCOPE}\nYes I am aware\npostgres-1\n"
        run(
            [patronictl, "-c", config, "remove", CLUSTER_SCOPE],
            input_text=answers,
            env=environment,
            timeout=60,
        )
