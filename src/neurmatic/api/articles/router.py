"""Writing articles (create, edit, delete), bookmarks and categories; reads are in read_router.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.articles.presenters import article_out, category_out
from neurmatic.api.articles.schemas import ArticleCreate, ArticleUpdate, CategoryCreate
from neurmatic.api.deps import Clients, CurrentUser, DbSession, Principal
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.api.state import AppClients
from neurmatic.domain.articles import bookmarks, service
from neurmatic.domain.articles import categories as category_rules
from neurmatic.domain.articles.freshness import record_write
from neurmatic.domain.articles.models import ArticleStatus
from neurmatic.domain.notifications import service as notifications
from neurmatic.domain.users.accounts import user_by_id

router = APIRouter(tags=["articles"])


async def after_write(clients: AppClients, db: AsyncSession, *, public: bool) -> None:
    """Until the standby has replayed this write, reads go to the primary; and when the public could see
    the article before or after it (``public``), cached anonymous reads are forgotten."""
    await record_write(clients.redis, db, public=public)


@router.post(
    "/articles", status_code=201, summary="Write an article", responses=error_responses(401, 403, 422, 429)
)
async def create_article(
    body: ArticleCreate, principal: CurrentUser, db: DbSession, clients: Clients
) -> JSONResponse:
    article = await service.create_article(db, principal.user, body.draft())
    await db.commit()
    await after_write(clients, db, public=article.status is ArticleStatus.PUBLISHED)
    await db.refresh(article)
    return success(article_out(article, principal.user), status_code=201)


@router.patch(
    "/articles/{slug}",
    summary="Edit an article (author, moderator or admin)",
    responses=error_responses(401, 403, 404, 422),
)
async def update_article(
    slug: str, body: ArticleUpdate, principal: CurrentUser, db: DbSession, clients: Clients
) -> JSONResponse:
    article = await service.find_article(db, slug, principal.user)
    was_public = article.status is ArticleStatus.PUBLISHED
    await service.update_article(db, article, principal.user, body.edit())
    await db.commit()
    await after_write(clients, db, public=was_public or article.status is ArticleStatus.PUBLISHED)
    await db.refresh(article)
    return success(article_out(article, await user_by_id(db, article.author_id)))


@router.delete(
    "/articles/{slug}",
    summary="Delete an article (author, moderator or admin)",
    responses=error_responses(401, 403, 404),
)
async def delete_article(slug: str, principal: CurrentUser, db: DbSession, clients: Clients) -> JSONResponse:
    article = await service.find_article(db, slug, principal.user)
    was_public = article.status is ArticleStatus.PUBLISHED
    await service.delete_article(db, article, principal.user)
    await db.commit()
    await after_write(clients, db, public=was_public)
    return success({"deleted": slug})


@router.put("/articles/{slug}/bookmark", summary="Bookmark an article", responses=error_responses(401, 404))
async def bookmark(slug: str, principal: CurrentUser, db: DbSession, clients: Clients) -> JSONResponse:
    article = await service.find_article(db, slug, principal.user)
    new = await bookmarks.bookmark(db, principal.user.id, article.id)
    if (
        new
        and article.author_id != principal.user.id
        and await _first_bookmark_by(clients, article.id, principal)
    ):
        # The author hears of a reader's bookmark once (live over the WebSocket too): a repeated PUT, or
        # removing and adding it again, says nothing more.
        await notifications.notify(
            db,
            clients.redis,
            article.author_id,
            kind="bookmark",
            title=f"{principal.user.username} bookmarked your article",
            body=article.title,
            data={"slug": article.slug, "by": principal.user.username},
        )
    return success({"bookmarked": slug})


BOOKMARK_NOTICE_TTL = 30 * 24 * 3600  # a reader who bookmarks the same article a month later is news again


async def _first_bookmark_by(clients: AppClients, article_id: uuid.UUID, principal: Principal) -> bool:
    """True the first time this reader bookmarks this article (within BOOKMARK_NOTICE_TTL)."""
    key = f"neurmatic:bookmark-notified:{article_id}:{principal.user.id}"
    return bool(await clients.redis.set(key, "1", nx=True, ex=BOOKMARK_NOTICE_TTL))


@router.delete("/articles/{slug}/bookmark", summary="Remove a bookmark", responses=error_responses(401, 404))
async def unbookmark(slug: str, principal: CurrentUser, db: DbSession) -> JSONResponse:
    article = await service.find_article(db, slug, principal.user)
    await bookmarks.unbookmark(db, principal.user.id, article.id)
    return success({"bookmarked": None})


@router.get("/users/me/bookmarks", summary="My bookmarked articles", responses=error_responses(401))
async def my_bookmarks(principal: CurrentUser, db: DbSession) -> JSONResponse:
    rows = await bookmarks.bookmarked(db, principal.user.id)
    return success([article_out(a, u, full=False) for a, u in rows])


@router.get("/categories", summary="Every category", responses=error_responses(429))
async def categories(db: DbSession) -> JSONResponse:
    return success([category_out(c) for c in await category_rules.all_categories(db)])


@router.post(
    "/categories",
    status_code=201,
    summary="Create a category (moderator or admin)",
    responses=error_responses(401, 403, 409, 422),
)
async def create_category(body: CategoryCreate, principal: CurrentUser, db: DbSession) -> JSONResponse:
    category = await category_rules.create_category(db, principal.user, body.name)
    return success(category_out(category), status_code=201)
