"""Why the database layer stopped: light, so the exit-code table imports it without SQLAlchemy or Alembic."""

from __future__ import annotations

from neurmatic.errors import NeurmaticError


class MigrationFailed(NeurmaticError):
    """A release's migrations failed; their transaction was rolled back."""
