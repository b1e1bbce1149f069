"""Article rules: who may write what, statuses and scheduling, slugs, tags, sanitizing, publishing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.articles.freshness import record_write
from neurmatic.domain.articles.inputs import ArticleDraft, ArticleEdit
from neurmatic.domain.articles.models import Article, ArticleStatus, Category, Tag
from neurmatic.domain.articles.slugs import slugify, with_suffix
from neurmatic.domain.sanitize import clean_html, plain_text
from neurmatic.domain.users.models import Role, User
from neurmatic.errors import Forbidden, NotFound, ValidationFailed

EDITORS = (Role.MODERATOR, Role.ADMIN)


def can_edit(article: Article, user: User | None) -> bool:
    return user is not None and (article.author_id == user.id or user.role in EDITORS)


def _apply_status(article: Article, status: ArticleStatus, scheduled_at: datetime | None) -> None:
    now = datetime.now(UTC)
    if status is ArticleStatus.SCHEDULED:
        if scheduled_at is None or scheduled_at <= now:
            raise ValidationFailed(
                "a scheduled article needs a scheduledAt in the future",
                details=[{"field": "scheduledAt", "message": "must be in the future"}],
            )
        article.scheduled_at = scheduled_at
    elif status is ArticleStatus.PUBLISHED and article.published_at is None:
        article.published_at = now
    article.status = status


async def _category(db: AsyncSession, slug: str | None) -> int | None:
    if slug is None:
        return None
    category_id = await db.scalar(select(Category.id).where(Category.slug == slug))
    if category_id is None:
        raise ValidationFailed("no such category", details=[{"field": "category", "message": "unknown slug"}])
    return category_id


def tag_names_by_slug(names: list[str]) -> dict[str, str]:
    """Each tag once, keyed by its slug: names that normalize to one slug ("LLM", "llm") are one tag,
    named as first written. (Keyed by name, both were linked and the second hit the primary key of
    ``article_tags``: a 500.)"""
    by_slug: dict[str, str] = {}
    for raw in names:
        name = plain_text(raw)[:60]
        if name:
            by_slug.setdefault(slugify(name, 60), name)
    return by_slug


async def _tags(db: AsyncSession, names: list[str]) -> list[Tag]:
    by_slug = tag_names_by_slug(names)
    if not by_slug:
        return []
    # ON CONFLICT: two articles introducing the same new tag at once both succeed (a plain INSERT made
    # the second one fail on the unique slug); sorted, so concurrent inserts lock in one order.
    await db.execute(
        pg_insert(Tag)
        .values([{"slug": slug, "name": by_slug[slug]} for slug in sorted(by_slug)])
        .on_conflict_do_nothing(index_elements=[Tag.slug])
    )
    found = {tag.slug: tag for tag in await db.scalars(select(Tag).where(Tag.slug.in_(by_slug)))}
    return [found[slug] for slug in by_slug]


async def create_article(db: AsyncSession, author: User, data: ArticleDraft) -> Article:
    title = plain_text(data.title)
    article = Article(
        title=title,
        summary=plain_text(data.summary) if data.summary else None,
        body_html=clean_html(data.body_html),
        author_id=author.id,
        category_id=await _category(db, data.category),
        slug=slugify(title),
    )
    article.tags = await _tags(db, data.tags)
    _apply_status(article, data.status, data.scheduled_at)
    if await db.scalar(select(Article.id).where(Article.slug == article.slug)) is not None:
        article.slug = with_suffix(article.slug)
    db.add(article)
    try:
        await db.flush()
    except IntegrityError:  # two writers raced for the same slug: the suffix makes ours unique
        await db.rollback()
        raise
    return article


async def update_article(db: AsyncSession, article: Article, user: User, data: ArticleEdit) -> Article:
    if not can_edit(article, user):
        raise Forbidden("only the author, a moderator or an administrator may change this article")
    changes = data.given
    if "title" in changes and data.title:
        article.title = plain_text(data.title)
    if "summary" in changes:
        article.summary = plain_text(data.summary) if data.summary else None
    if "body_html" in changes and data.body_html:
        article.body_html = clean_html(data.body_html)
    if "category" in changes:
        article.category_id = await _category(db, data.category)
    if data.tags is not None:
        article.tags = await _tags(db, data.tags)
    if data.status is not None:
        _apply_status(article, data.status, data.scheduled_at or article.scheduled_at)
    await db.flush()
    return article


async def delete_article(db: AsyncSession, article: Article, user: User) -> None:
    """Delete ``article`` (its author, a moderator or an administrator); the caller commits."""
    if not can_edit(article, user):
        raise Forbidden("only the author, a moderator or an administrator may delete this article")
    await db.delete(article)


async def find_article(db: AsyncSession, slug: str, viewer: User | None) -> Article:
    article = await db.scalar(select(Article).where(Article.slug == slug))
    if article is None or (article.status is not ArticleStatus.PUBLISHED and not can_edit(article, viewer)):
        raise NotFound("no such article")
    return article


async def publish_due(db: AsyncSession, now: datetime | None = None) -> list[uuid.UUID]:
    """Publish every scheduled article whose time has come (the scheduling cron job calls this)."""
    moment = now or datetime.now(UTC)
    due = await db.scalars(
        select(Article)
        .where(Article.status == ArticleStatus.SCHEDULED, Article.scheduled_at <= moment)
        .with_for_update(skip_locked=True, of=Article)
    )
    published = []
    for article in due.all():
        article.status, article.published_at = ArticleStatus.PUBLISHED, article.scheduled_at or moment
        published.append(article.id)
    return published


async def publish_and_announce(
    db: AsyncSession, redis: aioredis.Redis, now: datetime | None = None
) -> list[uuid.UUID]:
    """Publish what is due, commit, and record the write, so no read reaches a standby that has not
    replayed it and cached lists show the new articles at once."""
    published = await publish_due(db, now)
    await db.commit()
    if published:
        await record_write(redis, db)
    return published
