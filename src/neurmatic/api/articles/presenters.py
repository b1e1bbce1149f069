"""Article models → bodies."""

from __future__ import annotations

from typing import Any

from neurmatic.domain.articles.models import Article, Category
from neurmatic.domain.users.models import User


def category_out(category: Category | None) -> dict[str, Any] | None:
    return {"slug": category.slug, "name": category.name} if category else None


def article_out(
    article: Article, author: User | None, *, pending_views: int = 0, full: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(article.id),
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "status": article.status.value,
        "author": {"id": str(article.author_id), "username": author.username if author else None},
        "category": category_out(article.category),
        "tags": [t.slug for t in article.tags],
        "views": article.views + pending_views,
        "scheduledAt": article.scheduled_at.isoformat() if article.scheduled_at else None,
        "publishedAt": article.published_at.isoformat() if article.published_at else None,
        "createdAt": article.created_at.isoformat(),
        "updatedAt": article.updated_at.isoformat(),
    }
    if full:
        body["bodyHtml"] = article.body_html
    return body
