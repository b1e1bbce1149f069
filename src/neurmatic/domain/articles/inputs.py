"""What the article rules take in: a new article, changes to one, and how to filter and sort a list.

Plain dataclasses, so the rules do not depend on how a request arrived (the API parses its JSON bodies
into these; the seed and the drills could build them directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from neurmatic.domain.articles.models import ArticleStatus


class ArticleSort(StrEnum):
    """List orders; the values are the ``sort`` parameter's, as the original API's clients send them."""

    NEWEST = "-publishedAt"
    OLDEST = "publishedAt"
    MOST_VIEWED = "-views"
    RECENTLY_CREATED = "-createdAt"


@dataclass(frozen=True)
class ArticleFilters:
    category: str | None = None
    tag: str | None = None
    author: str | None = None
    status: ArticleStatus | None = None
    q: str | None = None
    sort: ArticleSort = ArticleSort.NEWEST


@dataclass(frozen=True)
class ArticleDraft:
    """A new article as its author wrote it (the body still unsanitized)."""

    title: str
    body_html: str
    summary: str | None = None
    status: ArticleStatus = ArticleStatus.DRAFT
    scheduled_at: datetime | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ArticleEdit:
    """Changes to an article: ``given`` names the fields the editor set (a field set to None clears it,
    one not given stays as it is)."""

    given: frozenset[str]
    title: str | None = None
    summary: str | None = None
    body_html: str | None = None
    status: ArticleStatus | None = None
    scheduled_at: datetime | None = None
    category: str | None = None
    tags: list[str] | None = None
