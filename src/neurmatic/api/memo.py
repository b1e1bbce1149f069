"""Lookups remembered per process for the hot path, keyed by what clients send.

The keys are client input (a query string, a forwarded address), so only short ones are kept: a long
one is computed each time and never held, and a flood of distinct long keys cannot fill memory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

Key = TypeVar("Key", str, bytes)
Value = TypeVar("Value")


def remembered_when_short(
    *, entries: int, longest: int
) -> Callable[[Callable[[Key], Value]], Callable[[Key], Value]]:
    """``lru_cache(entries)`` for keys of at most ``longest`` characters (bytes); longer keys are computed
    each time. The function must depend on its key only."""

    def wrap(compute: Callable[[Key], Value]) -> Callable[[Key], Value]:
        remembered = functools.lru_cache(maxsize=entries)(compute)

        @functools.wraps(compute)
        def lookup(key: Key) -> Value:
            return remembered(key) if len(key) <= longest else compute(key)

        return lookup

    return wrap
