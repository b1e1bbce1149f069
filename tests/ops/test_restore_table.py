"""``neurmatic restore-table``: the guide's data-loss procedure, on a copy of production."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from neurmatic.ops.exit_codes import ExitCode
from tests.conftest import RunningTopology
from tests.support import neurmatic


def _sql(topology: RunningTopology, database: str, statement: str) -> list[tuple[Any, ...]]:
    with topology.superuser(database) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _restore_table(topology: RunningTopology, *args: str) -> dict[str, dict[str, object]]:
    out = neurmatic("restore-table", *args, "--json", state_dir=topology.state_dir)
    return {plan["table"]: plan for plan in json.loads(out.stdout)["tables"]}


def test_lost_rows_and_a_dropped_table_come_back_and_newer_rows_stay(
    topology: RunningTopology, tmp_path: Path
) -> None:
    neurmatic("seed", "--articles", "120", "--users", "8", state_dir=topology.state_dir)
    backup = json.loads(
        neurmatic("backup", "--dir", str(tmp_path), "--json", state_dir=topology.state_dir).stdout
    )["path"]
    live = f"live_{uuid.uuid4().hex[:6]}"  # a copy of production plays production here
    neurmatic("restore", backup, "--db", live, state_dir=topology.state_dir)
    count = "SELECT count(*) FROM articles"
    total = int(_sql(topology, live, count)[0][0])
    _sql(topology, live, "DELETE FROM articles WHERE id IN (SELECT id FROM articles ORDER BY id LIMIT 25)")
    _sql(
        topology,
        live,
        "UPDATE users SET bio = 'edited after the backup' "
        "WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1)",
    )
    _sql(topology, live, "DROP TABLE bookmarks")
    _sql(
        topology,
        live,
        "UPDATE articles SET title = 'newer than the backup' "
        "WHERE id = (SELECT id FROM articles ORDER BY id LIMIT 1)",
    )
    args = (backup, "--db", live, "--table", "articles", "--table", "bookmarks", "--table", "users")
    planned = _restore_table(topology, *args, "--dry-run")
    assert planned["public.articles"]["missing"] == 25 and planned["public.articles"]["changed"] == 1
    assert planned["public.bookmarks"]["recreate"] is True and planned["public.users"]["changed"] == 1
    assert not any(plan["applied"] for plan in planned.values())
    assert int(_sql(topology, live, count)[0][0]) == total - 25  # dry run
    assert _sql(topology, live, "SELECT to_regclass('public.bookmarks') IS NULL") == [(True,)]
    done = _restore_table(topology, *args)
    assert all(plan["applied"] for plan in done.values())
    assert int(_sql(topology, live, count)[0][0]) == total
    assert _sql(topology, live, "SELECT count(*) FROM articles WHERE title = 'newer than the backup'") == [
        (1,)
    ]
    assert _sql(topology, live, "SELECT count(*) FROM users WHERE bio = 'edited after the backup'") == [(1,)]
    assert _sql(topology, live, "SELECT to_regclass('public.bookmarks') IS NOT NULL") == [(True,)]
    again = _restore_table(topology, *args)  # nothing left to recover
    assert again["public.articles"]["missing"] == 0
    # What PostgreSQL keeps from the rows is right after it: the counts recounted (the recovered rows
    # were added to them as they came back), the tags derived from production's article_tags.
    kept = "SELECT status::text, total FROM article_counts WHERE total > 0 ORDER BY 1"
    assert _sql(topology, live, kept) == _sql(
        topology, live, "SELECT status::text, count(*) FROM articles GROUP BY 1 ORDER BY 1"
    )
    stale_tags = (
        "SELECT count(*) FROM articles a WHERE a.tag_slugs IS DISTINCT FROM ARRAY(SELECT t.slug"
        " FROM article_tags at JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.id"
        " ORDER BY t.slug)::text[]"
    )
    assert _sql(topology, live, stale_tags) == [(0,)]
    # A copy of the counts from the backup is as old as the backup: counted again, not copied.
    _sql(topology, live, "UPDATE article_counts SET total = total + 1000")
    _restore_table(topology, backup, "--db", live, "--table", "article_counts", "--overwrite")
    assert _sql(topology, live, kept) == _sql(
        topology, live, "SELECT status::text, count(*) FROM articles GROUP BY 1 ORDER BY 1"
    )


def test_an_unknown_table_is_refused_with_the_list(topology: RunningTopology, tmp_path: Path) -> None:
    backup = json.loads(
        neurmatic("backup", "--dir", str(tmp_path), "--json", state_dir=topology.state_dir).stdout
    )["path"]
    result = neurmatic(
        "restore-table", backup, "--table", "no_such_table", state_dir=topology.state_dir, check=False
    )
    assert result.returncode == ExitCode.RESTORE_FAILED and "public.articles" in result.stderr
