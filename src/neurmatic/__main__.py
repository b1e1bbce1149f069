"""``python -m neurmatic`` is the ``neurmatic`` command (the supervisor starts servers this way)."""

from neurmatic.ops.cli import main

main()
