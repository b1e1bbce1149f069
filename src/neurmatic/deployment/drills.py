"""What DR drills need from a platform (implemented by ``supervisor/platform.py``).

Filled in as the drill flows move off the supervisor's classes.
"""

from __future__ import annotations

from typing import Protocol


class DrillControl(Protocol):
    """Breaking servers on purpose and bringing them back."""
