"""Categories: every article may be filed under one; moderators and administrators create them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.articles.models import Category
from neurmatic.domain.articles.service import EDITORS
from neurmatic.domain.articles.slugs import slugify
from neurmatic.domain.users.models import User
from neurmatic.errors import Conflict, Forbidden


async def all_categories(db: AsyncSession) -> list[Category]:
    return list((await db.scalars(select(Category).order_by(Category.name))).all())


async def create_category(db: AsyncSession, user: User, name: str) -> Category:
    """A new category (moderators and administrators only), committed."""
    if user.role not in EDITORS:
        raise Forbidden("only moderators and administrators create categories")
    slug = slugify(name)
    if await db.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        raise Conflict("this category exists")
    category = Category(slug=slug, name=name)
    db.add(category)
    await db.commit()
    return category
