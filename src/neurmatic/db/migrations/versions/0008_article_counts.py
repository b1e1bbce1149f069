"""How many articles each status has, kept by PostgreSQL: the unfiltered list's total without counting.

Every page of the article list carries the total. For the unfiltered list (all published articles, the
front page) that was ``count(*)`` over the published rows, an index-only scan of every one: 100 µs of
PostgreSQL's CPU per page at 2,000 articles, growing with the site. ``article_counts`` holds one row
per status, changed by PostgreSQL itself after every statement that inserts, deletes or updates
articles (or empties the table), in the same transaction: a reader sees the count of its own snapshot,
exactly, on the primary and on the standby alike. Filtered lists still count their rows.

The cost is on the writers' side: a write that changes how many articles a status has takes that
status's row lock until it commits, so such writes run one at a time. Articles are written a few times
a minute. Within a statement the rows are locked in status order; two writers could wait on each other
only if one changed statuses in several statements in another order, which no writer of the
application does (PostgreSQL would end one of them with an error).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _apply(deltas: str) -> str:
    """PL/pgSQL adding ``deltas`` (rows of status, delta) to the counts, one status at a time in order."""
    return f"""
    FOR counted_status, delta IN {deltas} ORDER BY 1 LOOP
      INSERT INTO article_counts AS c (status, total) VALUES (counted_status, delta)
      ON CONFLICT (status) DO UPDATE SET total = c.total + EXCLUDED.total;
    END LOOP;"""


_COUNT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION neurmatic_count_articles() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  counted_status article_status;
  delta bigint;
BEGIN
  -- Each event reads only the transition tables it has (PL/pgSQL plans a statement when it first runs).
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE article_counts SET total = 0 WHERE total <> 0;
  ELSIF TG_OP = 'INSERT' THEN{_apply("SELECT status, count(*) FROM new_articles GROUP BY status")}
  ELSIF TG_OP = 'DELETE' THEN{_apply("SELECT status, -count(*) FROM old_articles GROUP BY status")}
  ELSE{
    _apply(
        "SELECT status, sum(d)::bigint FROM (SELECT status, 1 AS d FROM new_articles"
        " UNION ALL SELECT status, -1 FROM old_articles) moved GROUP BY status HAVING sum(d) <> 0"
    )
}
  END IF;
  RETURN NULL;
END $$
"""
# Counts every status again from the rows: the migration's backfill, and restore-table's after it brings
# back rows of articles or of this table (flows/backups/restore_table.py).
_RECOUNT_FUNCTION = """
CREATE OR REPLACE FUNCTION neurmatic_recount_articles() RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  -- Writers wait from here to the commit (readers do not): none falls between the count and its use.
  LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE;
  INSERT INTO article_counts (status, total)
  SELECT s.status, count(a.id) FROM unnest(enum_range(NULL::article_status)) AS s(status)
  LEFT JOIN articles a ON a.status = s.status GROUP BY s.status
  ON CONFLICT (status) DO UPDATE SET total = EXCLUDED.total;
END $$
"""
_TRIGGERS = (
    ("articles_counted_in", "AFTER INSERT", "REFERENCING NEW TABLE AS new_articles"),
    ("articles_counted_out", "AFTER DELETE", "REFERENCING OLD TABLE AS old_articles"),
    (
        "articles_counted_moves",
        "AFTER UPDATE",
        "REFERENCING OLD TABLE AS old_articles NEW TABLE AS new_articles",
    ),
    ("articles_counted_emptied", "AFTER TRUNCATE", ""),
)


def upgrade() -> None:
    op.execute("CREATE TABLE article_counts (status article_status PRIMARY KEY, total bigint NOT NULL)")
    # Writers wait from here to the commit (readers do not): none falls between the count and the triggers.
    op.execute("LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE")
    op.execute(_COUNT_FUNCTION)
    op.execute(_RECOUNT_FUNCTION)
    for name, when, referencing in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} {when} ON articles {referencing} FOR EACH STATEMENT"
            " EXECUTE FUNCTION neurmatic_count_articles()"
        )
    op.execute("SELECT neurmatic_recount_articles()")


def downgrade() -> None:
    for name, *_ in reversed(_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON articles")
    op.execute("DROP FUNCTION IF EXISTS neurmatic_recount_articles()")
    op.execute("DROP FUNCTION IF EXISTS neurmatic_count_articles()")
    op.execute("DROP TABLE IF EXISTS article_counts")
