"""The job a drill queues before a fault: it does nothing but prove it ran.

The worker imports this by name (``neurmatic.ops.flows.drills.probe.drill_probe``), so it must stay
importable on its own and free of side effects: a drill checks queue durability, not mail delivery.
"""

from __future__ import annotations


def drill_probe(token: str) -> str:
    """Return ``token``: the drill compares the job's result with what it queued."""
    return token
