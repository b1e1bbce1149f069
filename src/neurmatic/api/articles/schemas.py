"""Article bodies on the wire."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from neurmatic.api.auth.schemas import Body
from neurmatic.domain.articles.inputs import ArticleDraft, ArticleEdit
from neurmatic.domain.articles.models import ArticleStatus


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

    def draft(self) -> ArticleDraft:
        return ArticleDraft(**self.model_dump())


class ArticleUpdate(Body):
    title: str | None = Field(None, min_length=3, max_length=200)
    summary: str | None = Field(None, max_length=500)
    body_html: str | None = Field(None, min_length=1, max_length=200_000)
    status: ArticleStatus | None = None
    scheduled_at: datetime | None = None
    category: str | None = Field(None, max_length=80)
    tags: list[str] | None = Field(None, max_length=10)

    def edit(self) -> ArticleEdit:
        """The changes, naming the fields the request set (``null`` clears a field, absent keeps it)."""
        return ArticleEdit(given=frozenset(self.model_fields_set), **self.model_dump())


class CategoryCreate(Body):
    name: str = Field(min_length=2, max_length=80)
