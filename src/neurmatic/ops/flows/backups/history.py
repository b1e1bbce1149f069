"""The recoveries this deployment made, and which timeline holds a given moment.

A point-in-time recovery forks the cluster's history: the recovered cluster continues on a new timeline
from the target (T1), while the replaced timeline had gone on writing until the swap (S). A later
recovery to a moment between T1 and S means the replaced history's state at that moment (the classic
"I recovered to a moment slightly too early"), but PostgreSQL follows the newest timeline by default and
would give the recovered history's. Each swap is recorded here, so such a moment recovers on the
timeline that was live then.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from neurmatic.private_files import write_private_file


@dataclass(frozen=True)
class Fork:
    """One swapped-in recovery: ``timeline`` branched from ``parent`` at ``target``; ``parent`` went on
    until ``swapped_at``."""

    timeline: int
    parent: int
    target: datetime
    swapped_at: datetime

    def holds(self, moment: datetime) -> bool:
        """Whether ``moment`` is in the replaced history only (after the target, before the swap)."""
        return self.target < moment < self.swapped_at


def read_forks(path: Path) -> list[Fork]:
    if not path.exists():
        return []
    return [
        Fork(
            int(item["timeline"]),
            int(item["parent"]),
            datetime.fromisoformat(item["target"]),
            datetime.fromisoformat(item["swapped_at"]),
        )
        for item in json.loads(path.read_text())
    ]


def record_fork(path: Path, fork: Fork) -> None:
    forks = [*read_forks(path), fork]
    body = [
        {**asdict(f), "target": f.target.isoformat(), "swapped_at": f.swapped_at.isoformat()} for f in forks
    ]
    write_private_file(path, json.dumps(body, indent=2) + "\n")


def timeline_holding(forks: list[Fork], moment: datetime) -> int | None:
    """The replaced timeline that holds ``moment`` (the latest fork's, when several do), or None: the
    newest timeline's history is the one at that moment."""
    holding = [fork for fork in forks if fork.holds(moment)]
    return max(holding, key=lambda fork: fork.swapped_at).parent if holding else None
