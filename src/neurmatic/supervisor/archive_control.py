"""``deployment.archive.ArchiveControl`` for the local topology: pgBackRest on the leader's node, and the
swap that makes a restored cluster the live one.

The swap is Patroni's documented way to restore a cluster: stop every member, remove the cluster from
the DCS (``patronictl remove``), start one member on the restored data (Patroni adopts a data directory
it finds when the DCS holds no cluster, and becomes its leader), then let the others clone themselves.
The live data directories are moved aside, not deleted, until the restored cluster runs with its
standby; a swap that fails leaves them there and says where.
"""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from neurmatic.adapters.commands import run
from neurmatic.adapters.pgbackrest import PgBackRest
from neurmatic.deployment.archive import Step
from neurmatic.errors import TopologyError
from neurmatic.render.patroni import CLUSTER_SCOPE
from neurmatic.supervisor import archiving
from neurmatic.supervisor.state import TopologyState


class LocalArchive:
    def __init__(self, state: TopologyState) -> None:
        self.state = state

    @property
    def account(self) -> str | None:
        return self.state.account.name

    def pgbackrest(self) -> PgBackRest:
        from neurmatic.supervisor.topology import Topology

        leader = Topology(self.state).patroni_leader()
        if leader is None:
            raise TopologyError(
                "Patroni names no running leader: pgBackRest backs up and archives from the primary",
                hint="`neurmatic status`; a failover or `neurmatic up` brings one back",
            )
        return archiving.pgbackrest(self.state, leader.index)

    def scratch_dir(self, label: str) -> Path:
        directory = self.state.paths.pgbackrest / "scratch" / label
        directory.mkdir(parents=True, mode=0o700)
        self.state.account.own(directory.parent, directory)
        return directory

    def swap_in(self, restored: Path, step: Step) -> None:
        from neurmatic.supervisor.runner import await_leader, await_sync_standby
        from neurmatic.supervisor.topology import Topology

        topology = Topology(self.state)
        paths = self.state.paths
        nodes = topology.postgres
        holds = [paths.hold(node.name) for node in nodes]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = {node.index: node.data_dir.with_name(f"{node.index}.replaced-{stamp}") for node in nodes}
        for hold in holds:  # the watcher must not restart what this stops
            hold.touch()
        try:
            leader = topology.patroni_leader()
            for node in sorted(nodes, key=lambda n: n is leader):  # standbys first, as `down` does
                node.stop()
            step("PostgreSQL stopped on every node")
            try:
                self._remove_from_dcs(nodes[0].environment())
            except BaseException:
                for hold in holds:
                    hold.unlink(missing_ok=True)
                step("nothing was replaced: starting the live cluster again")
                for node in nodes:
                    node.prepare()
                    node.start()
                raise
            step("the cluster's state removed from etcd (patronictl remove)")
            for node in nodes:
                if node.data_dir.exists():
                    node.data_dir.rename(aside[node.index])
            first, *others = nodes
            restored.rename(first.data_dir)
            self.state.account.own(first.data_dir)
            step(f"the restored data is {first.name}'s; the live data kept in {aside[first.index]}")
            first.prepare()
            first.start()
            first.wait_ready()
            await_leader(topology, step)
            # A new baseline on the new timeline: standbys are restored from it, and the next recovery
            # has a backup after this one's branch point.
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
        except BaseException:
            kept = ", ".join(str(path) for path in aside.values() if path.exists())
            if kept:
                step(f"the swap stopped; the data it replaced is kept in {kept}")
            raise
        finally:
            for hold in holds:
                hold.unlink(missing_ok=True)
        for path in aside.values():
            shutil.rmtree(path, ignore_errors=True)

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
