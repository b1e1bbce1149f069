"""Background loops that stop when cancelled, even when a library swallows the cancellation.

redis-py 8's pipeline ``execute()`` can absorb a ``CancelledError`` that arrives while it reads and return
normally. A ``while True`` loop around it then carries on with the cancellation consumed: an API instance
shutting down would wait on it forever (``asyncio.run`` cancels and awaits every task on exit). The task
still knows it was asked to stop (``Task.cancelling()``), so each round checks that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def every(seconds: float, step: Callable[[], Awaitable[object]]) -> None:
    """Await ``step()`` every ``seconds`` until the task is cancelled."""
    task = asyncio.current_task()
    while True:
        await step()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(seconds)
