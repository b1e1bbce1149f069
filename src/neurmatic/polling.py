"""One way to wait for something: poll a probe until it is done or a deadline passes, and say why not.

Every wait of the project (a server becoming ready, a process exiting, a failover settling, connections
draining) is the same loop: ask, and if the answer is not the one wanted, sleep and ask again until the
time is up. :func:`poll` is that loop. It keeps the last exception the probe raised and the last value
it returned, so the caller's timeout error can say *why* with :attr:`Polled.why` ("postgres-2 was not
ready after 120s (last error: connection to server at "127.0.0.1", port 15432 failed: Connection
refused)") instead of only that the time ran out. The caller raises its own error (the one its exit
code and hint belong to); the loop only reports.

A probe that raises one of ``catch`` (every ``Exception`` by default) means "not yet": a server that is
starting refuses connections. Anything else propagates at once. The clock and the sleep are parameters,
so the loop is tested with a fake clock (``tests/unit/test_polling.py``) and never waits in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Polled(Generic[T]):
    """The outcome of :func:`poll`: done or not, and what the probe said last."""

    done: bool
    value: T | None  # what the probe returned last (None when it only ever raised)
    last_error: BaseException | None  # the last exception it raised (kept even if it answered since)
    attempts: int
    elapsed: float

    @property
    def why(self) -> str:
        """Why the wait is not over, in a few words: the last error, else the last answer."""
        error = f"last error: {describe_error(self.last_error)}" if self.last_error is not None else ""
        if self.value is not None and not isinstance(self.value, bool):
            answer = f"last answer: {str(self.value)[:200]}"
            return f"{answer}; {error}" if error else answer
        return error or f"not ready at any of {self.attempts} probes"


def describe_error(exc: BaseException) -> str:
    """The first line of the error's message (its type's name when it has none), short enough for a
    one-line report."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def poll(
    probe: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.1,
    backoff: float = 1.0,
    max_interval: float | None = None,
    done: Callable[[T], bool] = bool,
    catch: tuple[type[BaseException], ...] = (Exception,),
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Polled[T]:
    """Call ``probe`` until ``done(value)`` holds or ``timeout`` seconds have passed.

    The probe runs at least once, and once more at the deadline (the last sleep is cut short to end
    there), so a wait never overshoots its timeout by more than one probe. Between probes it sleeps
    ``interval`` seconds, multiplied by ``backoff`` after each one up to ``max_interval``. An exception
    of a type in ``catch`` counts as "not yet" and is kept for :attr:`Polled.why`; others propagate.
    """
    started = clock()
    deadline = started + timeout
    delay = interval
    value: T | None = None
    last_error: BaseException | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            value = probe()
        except catch as exc:
            last_error = exc
            value = None
        else:
            if done(value):
                return Polled(True, value, last_error, attempts, clock() - started)
        now = clock()
        if now >= deadline:
            return Polled(False, value, last_error, attempts, now - started)
        sleep(min(delay, deadline - now))
        delay = delay * backoff if max_interval is None else min(delay * backoff, max_interval)
