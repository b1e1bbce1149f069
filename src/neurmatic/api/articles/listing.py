"""The article list in one statement: the page with each article's author, category and tags, and the
total count; an article page in one statement too.

One statement, written in SQL and run by asyncpg on a pooled connection, rather than the ORM's five
round trips (count, page, tags by ``selectin``, the standby's replay position, BEGIN/ROLLBACK around
them) and its per-request statement building: the signed-in list, which never hits the cache, spent
about 20 ms of CPU there; this is the hottest query of the site. The SQL is assembled only from the
fragments below, never from input: every value from the request is a ``$n`` parameter.

- the page's ids are read first, then the columns of those rows only;
- the count is an uncorrelated subquery (PostgreSQL runs it once); a window count would make it sort
  every matching row instead of reading the first ones from the feed's index (migration 0006). The
  unfiltered list reads the total PostgreSQL keeps per status instead (migration 0008);
- the tags are the article's own ``tag_slugs``, which PostgreSQL keeps (migration 0007): a subquery
  per row was a third of the page's CPU.

Whether a standby has replayed the last article write is asked before these, in a statement of its own
(``cache.replayed``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from neurmatic.api.pagination import Paging
from neurmatic.domain.articles.inputs import ArticleFilters, ArticleSort
from neurmatic.domain.articles.models import ArticleStatus
from neurmatic.domain.articles.service import EDITORS
from neurmatic.domain.users.models import Role
from neurmatic.errors import Forbidden

_NEWEST = "a.published_at DESC NULLS LAST, a.created_at DESC"
ORDER_BY = {
    ArticleSort.NEWEST: _NEWEST,
    ArticleSort.OLDEST: "a.published_at ASC NULLS LAST, a.created_at ASC",
    ArticleSort.MOST_VIEWED: f"a.views DESC, {_NEWEST}",
    ArticleSort.RECENTLY_CREATED: "a.created_at DESC",
}
# The statements are built from these constant fragments only (never from input: every value from the
# request is a $n parameter; the status is one of the enum's own values, the offset and the limit of the
# first pages are formatted as integers), filled in below and in read_page.
CONSTANT_PAGES = 5
_COLUMNS = """a.id, a.slug, a.title, a.summary, a.status::text AS status, a.author_id, u.username,
       c.slug AS category_slug, c.name AS category_name, a.tag_slugs AS tags,
       a.views, a.scheduled_at, a.published_at, a.created_at, a.updated_at"""
_JOINS = "JOIN users u ON u.id = a.author_id LEFT JOIN categories c ON c.id = a.category_id"
_STATUS_IS = {status: f"a.status = '{status.value}'::article_status" for status in ArticleStatus}
_COUNT = "(SELECT count(*) FROM articles a WHERE {where})"
# The unfiltered list's total, which PostgreSQL keeps per status (migration 0008): counting every
# published article was a third of the page statement's CPU.
_COUNTED_OF = "coalesce((SELECT total FROM article_counts WHERE status = '{}'::article_status), 0)"
_COUNTED = {status: _COUNTED_OF.format(status.value) for status in ArticleStatus}
# The signed-in reader's account status, read with the page (see read_page); NULL when not asked.
_ACCOUNT_STATUS = "(SELECT status::text FROM users WHERE id = {})"
# The page's ids first, from the index, then the columns of those rows only: with the columns computed
# before the OFFSET (a tags subquery per row, then), a page deep in the list cost 5 ms instead of 0.5.
_PAGE_OF = """
SELECT {columns}, {{count}} AS total, {{account}} AS account_status
FROM unnest(ARRAY(SELECT a.id FROM articles a WHERE {{where}} ORDER BY {{order}}
                  OFFSET {{offset}} LIMIT {{limit}})) WITH ORDINALITY AS page(id, position)
JOIN articles a ON a.id = page.id {joins}
ORDER BY page.position
"""
_PAGE = _PAGE_OF.format(columns=_COLUMNS, joins=_JOINS)
_EMPTY_PAGE = "SELECT {count} AS total, {account} AS account_status"
# An article page as the public sees it (published only).
_PUBLISHED_ARTICLE_OF = """
SELECT {columns}, a.body_html FROM articles a {joins}
WHERE a.slug = $1 AND a.status = 'published'
"""
_PUBLISHED_ARTICLE = _PUBLISHED_ARTICLE_OF.format(columns=_COLUMNS, joins=_JOINS)


class Viewer(Protocol):
    """Who reads a list: what the visibility rules look at."""

    id: Any
    role: Role


@dataclass
class _Query:
    """WHERE clauses and their arguments."""

    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str, value: Any) -> None:
        self.where.append(clause.format(self.param(value)))


def _listed_status(filters: ArticleFilters) -> ArticleStatus:
    """The status a list shows: published unless it asks for another."""
    return filters.status or ArticleStatus.PUBLISHED


def _query(filters: ArticleFilters, viewer: Viewer | None) -> _Query:
    query = _Query()
    status = _listed_status(filters)
    query.where.append(_STATUS_IS[status])
    if status is not ArticleStatus.PUBLISHED:
        if viewer is None:
            raise Forbidden("sign in to list unpublished articles")
        if viewer.role not in EDITORS:
            query.add("a.author_id = {}", viewer.id)
    if filters.category:
        query.add("a.category_id IN (SELECT id FROM categories WHERE slug = {})", filters.category)
    if filters.tag:
        query.add(
            "a.id IN (SELECT at.article_id FROM article_tags at JOIN tags t ON t.id = at.tag_id"
            " WHERE t.slug = {})",
            filters.tag,
        )
    if filters.author:
        query.add("a.author_id IN (SELECT id FROM users WHERE username = {})", filters.author)
    if filters.q:
        query.add("a.search @@ websearch_to_tsquery('english', {})", filters.q)
    return query


def _order(filters: ArticleFilters, query: _Query) -> str:
    """A search sorted by newest ranks by relevance first."""
    if filters.q and filters.sort is ArticleSort.NEWEST:
        rank = f"ts_rank(a.search, websearch_to_tsquery('english', {query.param(filters.q)})) DESC"
        return f"{rank}, {ORDER_BY[filters.sort]}"
    return ORDER_BY[filters.sort]


@dataclass(frozen=True)
class ListPage:
    rows: list[asyncpg.Record]
    total: int
    account_status: str | None = None  # the account's status when read_page was asked for it


def needs_viewer(filters: ArticleFilters) -> bool:
    """Whether the list depends on who reads it (drafts and the like: only the published list does not)."""
    return _listed_status(filters) is not ArticleStatus.PUBLISHED


async def read_page(
    conn: asyncpg.Connection,
    filters: ArticleFilters,
    viewer: Viewer | None,
    paging: Paging,
    account: uuid.UUID | None = None,
) -> ListPage:
    """One page (a page past the end still carries the count), in one statement; with ``account``, the
    status of that account too (read in the same statement: the signed-in published list checks its
    reader there instead of in a statement of its own).

    The status is written into the statement rather than sent as a parameter, and so are the offset
    and the limit of the first ``CONSTANT_PAGES`` pages: PostgreSQL cannot use the published feed's
    partial index in a plan made for any status, nor judge a plan for an unknown limit, so it planned a
    parameterised page anew on every execution (0.3 ms, half of the page's CPU). With them written in,
    the plan is made once per connection and kept (asyncpg keeps a connection's last 100 prepared
    statements). Deeper pages share one statement per filter, with the paging as parameters (PostgreSQL
    plans it for each execution or settles on a generic plan, as it judges): a client walking every page
    would otherwise push the first pages' statements out."""
    query = _query(filters, viewer)
    where = " AND ".join(query.where)
    # Only the status: PostgreSQL's own count; else counted, with the same arguments as the page's WHERE.
    only_status = len(query.where) == 1
    count = _COUNTED[_listed_status(filters)] if only_status else _COUNT.format(where=where)
    status = _ACCOUNT_STATUS.format(query.param(account)) if account is not None else "NULL"
    unranked_args = list(query.args)  # all but a search's rank and the paging, which come last
    order = _order(filters, query)
    if paging.page <= CONSTANT_PAGES:
        offset, limit = f"{paging.offset:d}", f"{paging.limit:d}"
    else:  # one statement for every deeper page, so crawlers do not churn the prepared statements
        offset, limit = query.param(paging.offset), query.param(paging.limit)
    sql = _PAGE.format(count=count, account=status, where=where, order=order, offset=offset, limit=limit)
    rows = await conn.fetch(sql, *query.args)
    if rows:
        return ListPage(rows, int(rows[0]["total"]), rows[0]["account_status"])
    # Past the end: no row to carry them. (Without the rank's argument: PostgreSQL refuses a parameter
    # the statement does not use.)
    row = await conn.fetchrow(_EMPTY_PAGE.format(count=count, account=status), *unranked_args)
    return ListPage([], int(row["total"]), row["account_status"])


def article_summary(row: asyncpg.Record, pending_views: int) -> dict[str, Any]:
    """A row of the page as the list answers it (``presenters.article_out(..., full=False)``), for
    ``orjson``: the times stay ``datetime`` (orjson writes them as ``isoformat()`` does, in C; 80
    ``isoformat()`` calls were a tenth of a page's CPU)."""
    category = row["category_slug"]
    return {
        "id": str(row["id"]),  # asyncpg's UUID is a subclass, which orjson does not write
        "slug": row["slug"],
        "title": row["title"],
        "summary": row["summary"],
        "status": row["status"],
        "author": {"id": str(row["author_id"]), "username": row["username"]},
        "category": {"slug": category, "name": row["category_name"]} if category else None,
        "tags": row["tags"],
        "views": row["views"] + pending_views,
        "scheduledAt": row["scheduled_at"],
        "publishedAt": row["published_at"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


async def read_published_article(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    """The published article ``slug`` with what its page shows."""
    return await conn.fetchrow(_PUBLISHED_ARTICLE, slug)


def article_page(row: asyncpg.Record, pending_views: int) -> dict[str, Any]:
    """A published article's row as its page answers it (``presenters.article_out``)."""
    return {**article_summary(row, pending_views), "bodyHtml": row["body_html"]}
