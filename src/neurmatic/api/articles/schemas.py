"""Article bodies on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from neurmatic.api.articles.models import ArticleStatus
from neurmatic.api.auth.schemas import Body


class ArticleCreate(Body):
    title: str = Field(min_length=3, max_length=200)
    summary: str | None = Field(None, max_length=500)
    body_html: str = Field(min_length=1, max_length=200_000, description="HTML; sanitized on the way in")
    status: ArticleStatus = ArticleStatus.DRAFT
    scheduled_at: datetime | None = Field(
        None, description="Required when status is scheduled; in the future"
    )
    category: str | None = Field(None, max_length=80, description="A category slug")
    tags: list[str] = Field(default_factory=list, max_length=10)


class ArticleUpdate(Body):
    title: str | None = Field(None, min_length=3, max_length=200)
    summary: str | None = Field(None, max_length=500)
    body_html: str | None = Field(None, min_length=1, max_length=200_000)
    status: ArticleStatus | None = None
    scheduled_at: datetime | None = None
    category: str | None = Field(None, max_length=80)
    tags: list[str] | None = Field(None, max_length=10)


class ArticleSort(StrEnum):
    NEWEST = "-publishedAt"
    OLDEST = "publishedAt"
    MOST_VIEWED = "-views"
    RECENTLY_CREATED = "-createdAt"


class CategoryCreate(Body):
    name: str = Field(min_length=2, max_length=80)
