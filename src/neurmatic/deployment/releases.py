"""What deploys, rollbacks and scaling need from a platform (implemented by ``supervisor/platform.py``).

Filled in as the release flows move off the supervisor's classes.
"""

from __future__ import annotations

from typing import Protocol


class ReleaseControl(Protocol):
    """Building releases beside each other and switching API instances and the worker between them."""
