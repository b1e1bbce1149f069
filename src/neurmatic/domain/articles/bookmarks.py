"""Bookmarks: the articles a user saved."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.articles.models import Article, Bookmark
from neurmatic.domain.users.models import User

BOOKMARKS_SHOWN = 100


async def bookmark(db: AsyncSession, user_id: uuid.UUID, article_id: uuid.UUID) -> bool:
    """Save the article for the user (once; a second time changes nothing) and commit; True when new."""
    if await db.get(Bookmark, (user_id, article_id)) is not None:
        return False
    db.add(Bookmark(user_id=user_id, article_id=article_id))
    await db.commit()
    return True


async def unbookmark(db: AsyncSession, user_id: uuid.UUID, article_id: uuid.UUID) -> None:
    """Forget the bookmark, if there is one, and commit."""
    existing = await db.get(Bookmark, (user_id, article_id))
    if existing is not None:
        await db.delete(existing)
        await db.commit()


async def bookmarked(db: AsyncSession, user_id: uuid.UUID) -> list[tuple[Article, User]]:
    """The user's bookmarked articles with their authors, most recently saved first."""
    rows = await db.execute(
        select(Article, User)
        .join(Bookmark, Bookmark.article_id == Article.id)
        .join(User, User.id == Article.author_id)
        .where(Bookmark.user_id == user_id)
        .order_by(Bookmark.created_at.desc())
        .limit(BOOKMARKS_SHOWN)
    )
    return [(article, author) for article, author in rows.all()]
