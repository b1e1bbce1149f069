"""Articles, categories, tags, bookmarks, with a generated tsvector and its GIN index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Title weighs most, then the summary, then the body with its markup stripped.
SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(summary, '')), 'B') || "
    "setweight(to_tsvector('english', regexp_replace(coalesce(body_html, ''), '<[^>]+>', ' ', 'g')), 'C')"
)


def _fk_column(name: str, target: str) -> sa.Column[object]:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target, ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(80), nullable=False, unique=True),
        sa.Column("name", sa.String(80), nullable=False),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(60), nullable=False, unique=True),
        sa.Column("name", sa.String(60), nullable=False),
    )
    status = postgresql.ENUM("draft", "scheduled", "published", name="article_status")
    op.create_table(
        "articles",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(220), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(500)),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("author_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("category_id", sa.Integer(), sa.ForeignKey("categories.id", ondelete="SET NULL")),
        sa.Column("scheduled_at", sa.DateTime(timezone=True)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("views", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("search", postgresql.TSVECTOR(), sa.Computed(SEARCH_EXPRESSION, persisted=True)),
    )
    for column in ("status", "author_id", "category_id", "published_at"):
        op.create_index(f"ix_articles_{column}", "articles", [column])
    op.create_index("ix_articles_search", "articles", ["search"], postgresql_using="gin")
    op.create_index(
        "ix_articles_scheduled_due",
        "articles",
        ["scheduled_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_table(
        "article_tags",
        _fk_column("article_id", "articles.id"),
        sa.Column("tag_id", sa.Integer(), sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_article_tags_tag_id", "article_tags", ["tag_id"])
    op.create_table(
        "bookmarks",
        _fk_column("user_id", "users.id"),
        _fk_column("article_id", "articles.id"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    for table in ("bookmarks", "article_tags", "articles", "tags", "categories"):
        op.drop_table(table)
    postgresql.ENUM(name="article_status").drop(op.get_bind())
