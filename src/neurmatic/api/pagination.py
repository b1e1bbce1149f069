"""The one paging contract of every list endpoint: ``page`` and ``limit`` bounded in the query, and the
``meta.pagination`` block of the answer.

Bounded because the offset ``(page - 1) * limit`` goes to PostgreSQL as a BIGINT: an unbounded ``page``
(a 30-digit number) overflowed it and answered 500. 10,000 pages of 100 is far past any real listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_PAGE = 10_000
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def meta(self, total: int) -> dict[str, object]:
        """The ``meta`` of a list answer holding ``total`` items in all."""
        return {
            "pagination": {
                "page": self.page,
                "limit": self.limit,
                "total": total,
                "totalPages": -(-total // self.limit),
            }
        }


async def _paging(  # async: a plain def would run in a worker thread
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
) -> Paging:
    return Paging(page, limit)


Page = Annotated[Paging, Depends(_paging)]
