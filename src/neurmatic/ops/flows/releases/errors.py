"""Why a deploy, a rollback or a scaling stopped: the exit-code table maps each one (a light module, so
``neurmatic`` imports it at start without the release machinery or the supervisor)."""

from __future__ import annotations

from neurmatic.errors import NeurmaticError


class DeployFailed(NeurmaticError):
    """A deploy, rollback or scaling stopped; the message says what runs now."""


class DeployRolledBack(DeployFailed):
    """The new release failed in production and the previous one was put back automatically."""


class SchemaNotExpandOnly(DeployFailed):
    """The release's migrations drop or narrow the schema; they were rolled back, nothing was switched."""
