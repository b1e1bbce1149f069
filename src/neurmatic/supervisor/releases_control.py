"""The local topology's control for deploys, rollbacks and scaling (``deployment/releases.py``)."""

from __future__ import annotations

from neurmatic.supervisor.state import TopologyState


class LocalReleases:
    def __init__(self, state: TopologyState) -> None:
        self.state = state
