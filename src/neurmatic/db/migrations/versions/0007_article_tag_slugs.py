"""Each article's tag slugs, sorted, kept on the article row by triggers: the list reads a column instead
of running a subquery per row.

The article list and the article page showed each article's tags through a subquery (``article_tags``
joined to ``tags``, sorted) run once per row: 90 µs of PostgreSQL's CPU for a page of 20, a third of
the signed-in list's statement. ``articles.tag_slugs`` holds the same array. It is written by
PostgreSQL itself, after every statement that adds, removes or moves a row of ``article_tags`` and after
a tag's slug changes, so every writer (the API, the seed, a restore's replay, a hand-written statement)
keeps it right without knowing it exists; the application never writes it. Statement-level triggers
with transition tables: an article saved with three tags is refreshed once, not three times.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The one definition of an article's tag slugs: the triggers and the backfill below use it.
_SLUGS_OF = (
    "ARRAY(SELECT t.slug FROM article_tags at JOIN tags t ON t.id = at.tag_id"
    " WHERE at.article_id = articles.id ORDER BY t.slug)"
)

_REFRESH_FUNCTION_OF = """
CREATE OR REPLACE FUNCTION neurmatic_refresh_tag_slugs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Only the transition tables this event has are read (PL/pgSQL plans a statement when it first runs).
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE articles SET tag_slugs = {slugs}
    WHERE articles.id IN (SELECT article_id FROM new_tags);
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE articles SET tag_slugs = {slugs}
    WHERE articles.id IN (SELECT article_id FROM old_tags);
  END IF;
  RETURN NULL;
END $$
"""
_REFRESH_FUNCTION = _REFRESH_FUNCTION_OF.format(slugs=_SLUGS_OF)

_RENAMED_FUNCTION_OF = """
CREATE OR REPLACE FUNCTION neurmatic_tag_renamed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE articles SET tag_slugs = {slugs}
  WHERE articles.id IN (SELECT article_id FROM article_tags WHERE tag_id = NEW.id);
  RETURN NULL;
END $$
"""
_RENAMED_FUNCTION = _RENAMED_FUNCTION_OF.format(slugs=_SLUGS_OF)
_BACKFILL_OF = (
    "UPDATE articles SET tag_slugs = {slugs}"
    " WHERE EXISTS (SELECT 1 FROM article_tags at WHERE at.article_id = articles.id)"
)
_BACKFILL = _BACKFILL_OF.format(slugs=_SLUGS_OF)


def upgrade() -> None:
    op.execute("ALTER TABLE articles ADD COLUMN tag_slugs text[] NOT NULL DEFAULT '{}'")
    op.execute(_BACKFILL)
    op.execute(_REFRESH_FUNCTION)
    op.execute(_RENAMED_FUNCTION)
    # PostgreSQL allows transition tables only on single-event triggers: one trigger per event.
    op.execute(
        "CREATE TRIGGER article_tags_added AFTER INSERT ON article_tags"
        " REFERENCING NEW TABLE AS new_tags"
        " FOR EACH STATEMENT EXECUTE FUNCTION neurmatic_refresh_tag_slugs()"
    )
    op.execute(
        "CREATE TRIGGER article_tags_removed AFTER DELETE ON article_tags"
        " REFERENCING OLD TABLE AS old_tags"
        " FOR EACH STATEMENT EXECUTE FUNCTION neurmatic_refresh_tag_slugs()"
    )
    op.execute(
        "CREATE TRIGGER article_tags_moved AFTER UPDATE ON article_tags"
        " REFERENCING OLD TABLE AS old_tags NEW TABLE AS new_tags"
        " FOR EACH STATEMENT EXECUTE FUNCTION neurmatic_refresh_tag_slugs()"
    )
    op.execute(
        "CREATE TRIGGER tags_renamed AFTER UPDATE OF slug ON tags"
        " FOR EACH ROW WHEN (OLD.slug IS DISTINCT FROM NEW.slug)"
        " EXECUTE FUNCTION neurmatic_tag_renamed()"
    )


def downgrade() -> None:
    for trigger, table in (
        ("tags_renamed", "tags"),
        ("article_tags_moved", "article_tags"),
        ("article_tags_removed", "article_tags"),
        ("article_tags_added", "article_tags"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS neurmatic_tag_renamed()")
    op.execute("DROP FUNCTION IF EXISTS neurmatic_refresh_tag_slugs()")
    op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS tag_slugs")
