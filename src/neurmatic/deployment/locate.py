"""Where a deployment is named: the variables and the default state directory (standard library only,
so the local topology's light commands such as ``neurmatic status`` can use them)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_FILE_VARIABLE = "NEURMATIC_ENV_FILE"
STATE_DIR_VARIABLE = "NEURMATIC_STATE_DIR"
DEFAULT_STATE_DIR = Path(".neurmatic")
TOPOLOGY_FILE = "topology.json"  # what marks a state directory as a topology's


def resolve_state_dir(option: Path | None) -> Path:
    """``--state-dir``, else ``NEURMATIC_STATE_DIR``, else ``./.neurmatic``; always absolute."""
    chosen = option or Path(os.environ.get(STATE_DIR_VARIABLE) or DEFAULT_STATE_DIR)
    return chosen.expanduser().absolute()
