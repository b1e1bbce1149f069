"""The local topology's control for DR drills (``deployment/drills.py``'s interface)."""

from __future__ import annotations

from neurmatic.supervisor.state import TopologyState


class LocalDrills:
    def __init__(self, state: TopologyState) -> None:
        self.state = state
