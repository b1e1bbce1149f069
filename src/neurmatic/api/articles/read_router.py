"""Reading articles: from the standby once it has replayed the last article write (else the primary),
anonymous reads cached in Redis and invalidated on write (see cache.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.articles import service, views
from neurmatic.api.articles.cache import ArticleCache, CacheView, has_replayed
from neurmatic.api.articles.models import ArticleStatus
from neurmatic.api.articles.presenters import article_out
from neurmatic.api.articles.schemas import ArticleSort
from neurmatic.api.deps import Clients, OptionalUser
from neurmatic.api.pagination import Page
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.state import AppClients
from neurmatic.api.users.models import User

router = APIRouter(tags=["articles"])


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


async def _replayed(session: AsyncSession, position: int) -> bool:
    try:
        return await has_replayed(session, position)
    except (DBAPIError, OSError):  # the standby went away since its last check: the primary answers
        return False


def _response(body: dict[str, Any], source: str, cache: str | None = None) -> JSONResponse:
    response = JSONResponse(body)
    # nginx cannot purge its cache, so it must not keep these; Redis holds them and forgets on write.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Read-From"] = source
    if cache:
        response.headers["X-App-Cache"] = cache
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
) -> JSONResponse:
    cache = ArticleCache(clients.redis)
    view = await cache.view()
    cache_key = f"list:{request.url.query}"
    if viewer is None and view and (cached := await cache.get(view, cache_key)):
        return _response(cached, "cache", "HIT")
    filters = service.ArticleFilters(category, tag, author, status, q, sort)
    async with _reader(clients, view) as (db, source):
        rows, total = await service.list_articles(db, filters, viewer.user if viewer else None, paging)
    pending = await views.pending_views(clients.redis, [article.id for article, _ in rows])
    data = [article_out(a, who, pending_views=pending.get(a.id, 0), full=False) for a, who in rows]
    body = {"success": True, "data": data, "meta": paging.meta(total)}
    if viewer is None and view:
        await cache.put(view, cache_key, body)
    return _response(body, source, "MISS" if viewer is None else None)


@router.get("/articles/{slug}", summary="One article (counts a view)", responses=error_responses(404, 429))
async def get_article(slug: str, clients: Clients, viewer: OptionalUser) -> JSONResponse:
    cache = ArticleCache(clients.redis)
    view = await cache.view()
    if viewer is None and view and (cached := await cache.get(view, f"detail:{slug}")):
        pending = await views.count_view(clients.redis, uuid.UUID(cached["data"]["id"]))
        cached["data"]["views"] = cached["baseViews"] + pending
        return _response({"success": True, "data": cached["data"]}, "cache", "HIT")
    async with _reader(clients, view) as (db, source):
        article = await service.find_article(db, slug, viewer.user if viewer else None)
        author = await db.get(User, article.author_id)
    published = article.status is ArticleStatus.PUBLISHED
    pending = await views.count_view(clients.redis, article.id) if published else 0
    data = article_out(article, author, pending_views=pending)
    if viewer is None and view:
        await cache.put(view, f"detail:{slug}", {"data": data, "baseViews": article.views})
    return _response({"success": True, "data": data}, source, "MISS" if viewer is None else None)
