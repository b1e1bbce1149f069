"""Why a drill did not run. A drill that ran and failed is not an error: it is a report with ✗."""

from __future__ import annotations

from neurmatic.errors import TopologyError


class DrillError(TopologyError):
    """A drill could not be run on this topology."""


class DrillPreconditionFailed(DrillError):
    """The topology is not whole (or not ready) before the drill: a drill on a broken system measures
    the old breakage, not the recovery."""


class DrillBusy(DrillError):
    """Another drill is running on this topology (two faults at once would spoil both measurements)."""
