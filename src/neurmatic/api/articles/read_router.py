"""Reading articles: from the standby once it has replayed the last article write (else the primary),
anonymous reads cached in Redis and invalidated on write (see cache.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import asyncpg
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from neurmatic.api.articles import listing
from neurmatic.api.articles.cache import (
    CacheView,
    detail_article_id,
    detail_body,
    detail_entry,
    detail_key,
    has_replayed,
    list_key,
    replayed,
    view_from_scope,
)
from neurmatic.api.articles.presenters import article_out
from neurmatic.api.auth.tokens import AccessClaims
from neurmatic.api.deps import Clients, OptionalUser, check_reader_account
from neurmatic.api.pagination import Page, Paging
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.state import AppClients
from neurmatic.domain.articles import service, views
from neurmatic.domain.articles.inputs import ArticleFilters, ArticleSort
from neurmatic.domain.articles.models import ArticleStatus
from neurmatic.domain.users.accounts import user_by_id
from neurmatic.domain.users.models import User

router = APIRouter(tags=["articles"])
T = TypeVar("T")
STANDBY_TROUBLE = (
    DBAPIError,
    SQLAlchemyTimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    OSError,
)


@asynccontextmanager
async def _reader(clients: AppClients, view: CacheView | None) -> AsyncIterator[tuple[AsyncSession, str]]:
    """The standby when it is healthy and has replayed the last article write, else the primary."""
    if view is not None and clients.db.replica_state.healthy:
        async with clients.db.read_session() as session:
            if await _replayed(session, view.write_position):
                yield session, "standby"
                return
    async with clients.db.session() as session:
        yield session, "primary"


async def on_replayed_node(
    clients: AppClients, view: CacheView | None, read: Callable[[asyncpg.Connection], Awaitable[T]]
) -> tuple[T, str]:
    """``read(connection)`` on the standby when it has replayed the last article write (asked first, in
    a statement of its own: see listing.py), else on the primary; and which node answered."""
    if view is not None and clients.db.replica_state.healthy:
        try:
            async with clients.db.driver_connection(standby=True) as conn:
                if await replayed(conn, view.write_position):
                    return await read(conn), "standby"
        except STANDBY_TROUBLE:
            pass  # the standby went away since its last check, or its pool is full: the primary answers
    async with clients.db.driver_connection() as conn:
        return await read(conn), "primary"


async def _list_page(
    clients: AppClients,
    view: CacheView | None,
    filters: ArticleFilters,
    viewer: User | None,
    paging: Paging,
    account: uuid.UUID | None,
) -> tuple[listing.ListPage, str]:
    async def read(conn: asyncpg.Connection) -> listing.ListPage:
        return await listing.read_page(conn, filters, viewer, paging, account)

    return await on_replayed_node(clients, view, read)


async def _replayed(session: AsyncSession, position: int) -> bool:
    try:
        return await has_replayed(session, position)
    except (DBAPIError, OSError):  # the standby went away since its last check: the primary answers
        return False


def read_response(body: dict[str, Any] | bytes, source: str, cache: str | None = None) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = Response(raw, media_type="application/json")
    # nginx cannot purge its cache, so it must not keep these; Redis holds them and forgets on write.
    # (Raw headers: setting them one by one through ``response.headers`` cost more than the body.)
    response.raw_headers += [(b"cache-control", b"no-cache"), (b"x-read-from", source.encode())]
    if cache:
        response.raw_headers.append((b"x-app-cache", cache.encode()))
    return response


@router.get(
    "/articles",
    summary="Published articles (or your drafts), filtered, sorted, searched",
    responses=error_responses(403, 422, 429),
)
async def list_articles(
    request: Request,
    clients: Clients,
    viewer: OptionalUser,
    paging: Page,
    category: str | None = None,
    tag: str | None = None,
    author: str | None = None,
    status: ArticleStatus | None = None,
    sort: ArticleSort = ArticleSort.NEWEST,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = ArticleFilters(category, tag, author, status, q, sort)
    body, source, cache = await list_answer(
        clients, request.scope, viewer.user if viewer else None, filters, paging
    )
    return read_response(body, source, cache)


async def list_answer(
    clients: AppClients,
    scope: Scope,
    viewer: User | None,
    filters: ArticleFilters,
    paging: Paging,
    reader: AccessClaims | None = None,
) -> tuple[bytes, str, str | None]:
    """The list's body, where it was read (cache, standby, primary) and, for an anonymous reader, the
    cache's verdict (HIT, MISS). Shared by the route and the front door's lean path (fast_list.py), which
    passes a signed-in ``reader`` of the published list instead of a ``viewer``: its account is read in
    the page's own statement and checked there (``deps.check_reader_account``)."""
    cache = clients.article_cache
    cache_key = list_key(scope["query_string"])
    signed_in = viewer is not None or reader is not None
    # The front door looked in the cache already for most anonymous requests (and answered the hits);
    # the rest (a CORS request, one with a body) look here.
    view = view_from_scope(scope)
    if view is None:
        view = await cache.view()
        if not signed_in and view and (cached := await cache.get_raw(view, cache_key)):
            return cached, "cache", "HIT"

    async def read() -> tuple[bytes, str]:
        account = uuid.UUID(reader.user_id) if reader is not None else None
        page, source = await _list_page(clients, view, filters, viewer, paging, account)
        if reader is not None:
            await check_reader_account(
                Request(scope), clients, reader, page.account_status, on_standby=source == "standby"
            )
        pending = await views.pending_views(clients.hot, [row["id"] for row in page.rows])
        data = [listing.article_summary(row, pending.get(row["id"], 0)) for row in page.rows]
        return orjson.dumps({"success": True, "data": data, "meta": paging.meta(page.total)}), source

    if signed_in or view is None:
        body, source = await read()
        return body, source, None if signed_in else "MISS"
    body, source = await cache.read_through(view, cache_key, read)
    return body, source, "MISS"


@router.get("/articles/{slug}", summary="One article (counts a view)", responses=error_responses(404, 429))
async def get_article(request: Request, slug: str, clients: Clients, viewer: OptionalUser) -> Response:
    cache = clients.article_cache
    key = detail_key(slug)
    # The front door looked in the cache already for most anonymous requests (and answered the hits).
    view = view_from_scope(request.scope)
    if view is None:
        view = await cache.view()
        if viewer is None and view and (entry := await cache.get_raw(view, key)):
            pending = await views.count_view(clients.hot, detail_article_id(entry))
            return read_response(detail_body(entry, pending), "cache", "HIT")
    async with _reader(clients, view) as (db, source):
        article = await service.find_article(db, slug, viewer.user if viewer else None)
        author = await user_by_id(db, article.author_id)
    published = article.status is ArticleStatus.PUBLISHED
    pending = await views.count_view(clients.hot, article.id) if published else 0
    data = article_out(article, author, pending_views=pending)
    if viewer is None and view:
        await cache.put(view, key, detail_entry(article.id, data, article.views))
    return read_response({"success": True, "data": data}, source, "MISS" if viewer is None else None)
