"""Articles: permissions, statuses and scheduling, pagination, filters, sorting, search, sanitizing,
views counted in Redis, bookmarks."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from neurmatic.settings import Settings
from tests.api.accounts import (
    account_client,
    bearer,
    create_admin,
    login,
    signed_in,
)
from tests.api.conftest import asgi_app
from tests.conftest import RunningTopology


def _article(**extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    return {
        "title": f"Quantised attention {tag}",
        "summary": "Notes on int8 kernels",
        "bodyHtml": "<p>Flash attention <b>explained</b></p>",
        "status": "published",
        **extra,
    }


async def _write(client: httpx.AsyncClient, token: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/articles", headers=bearer(token), json=_article(**extra))
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def test_create_read_update_delete_with_author_permissions(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, author = await signed_in(client)
        _, stranger = await signed_in(client)
        article = await _write(client, author["accessToken"])
        slug = article["slug"]
        public = await client.get(f"/api/v1/articles/{slug}")
        foreign_edit = await client.patch(
            f"/api/v1/articles/{slug}",
            headers=bearer(stranger["accessToken"]),
            json={"title": "Hijacked title"},
        )
        own_edit = await client.patch(
            f"/api/v1/articles/{slug}",
            headers=bearer(author["accessToken"]),
            json={"title": "A better title"},
        )
        foreign_delete = await client.delete(
            f"/api/v1/articles/{slug}", headers=bearer(stranger["accessToken"])
        )
        deleted = await client.delete(f"/api/v1/articles/{slug}", headers=bearer(author["accessToken"]))
        gone = await client.get(f"/api/v1/articles/{slug}")
        anonymous_write = await client.post("/api/v1/articles", json=_article())
    assert (
        public.status_code == 200
        and public.json()["data"]["bodyHtml"] == "<p>Flash attention <b>explained</b></p>"
    )
    assert foreign_edit.status_code == 403 and own_edit.json()["data"]["title"] == "A better title"
    assert foreign_delete.status_code == 403 and deleted.status_code == 200 and gone.status_code == 404
    assert anonymous_write.status_code == 401


async def test_moderators_may_edit_any_article(settings: Settings, topology: RunningTopology) -> None:
    async with account_client(settings) as client:
        _, author = await signed_in(client)
        article = await _write(client, author["accessToken"])
        moderator, _ = create_admin(topology.state_dir)
        admin_token = (await login(client, moderator)).json()["data"]["accessToken"]
        edited = await client.patch(
            f"/api/v1/articles/{article['slug']}",
            headers=bearer(admin_token),
            json={"summary": "Edited by the moderation team"},
        )
    assert edited.status_code == 200 and edited.json()["data"]["summary"] == "Edited by the moderation team"


async def test_html_is_sanitized_and_slugs_are_unique(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, author = await signed_in(client)
        title = f"Same title {uuid.uuid4().hex[:6]}"
        first = await _write(
            client,
            author["accessToken"],
            title=title,
            bodyHtml=(
                '<p onclick="steal()">Hi<script>alert(1)</script><a href="javascript:alert(2)">x</a>'
                '<img src="https://example.com/a.png" onerror="x()"></p>'
            ),
        )
        second = await _write(client, author["accessToken"], title=title)
    body = first["bodyHtml"]
    assert (
        "script" not in body and "onclick" not in body and "javascript:" not in body and "onerror" not in body
    )
    assert '<img src="https://example.com/a.png">' in body
    assert first["slug"] != second["slug"] and second["slug"].startswith(first["slug"])


async def test_drafts_are_private_and_scheduled_articles_publish_when_due(settings: Settings) -> None:
    from neurmatic.adapters.redis import async_master
    from neurmatic.db.engines import Database
    from neurmatic.domain.articles.service import publish_and_announce, publish_due

    async with account_client(settings) as client:
        _, author = await signed_in(client)
        draft = await _write(client, author["accessToken"], status="draft")
        when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        scheduled = await _write(client, author["accessToken"], status="scheduled", scheduledAt=when)
        past = await client.post(
            "/api/v1/articles",
            headers=bearer(author["accessToken"]),
            json=_article(status="scheduled", scheduledAt="2020-01-01T00:00:00Z"),
        )
        anonymous = await client.get(f"/api/v1/articles/{draft['slug']}")
        own = await client.get(f"/api/v1/articles/{draft['slug']}", headers=bearer(author["accessToken"]))
        drafts = await client.get("/api/v1/articles?status=draft", headers=bearer(author["accessToken"]))
        anonymous_drafts = await client.get("/api/v1/articles?status=draft")
        db, redis = Database(settings.database), async_master(settings.redis)
        try:
            async with db.session() as session:
                assert scheduled["id"] not in [str(i) for i in await publish_due(session)]
                await session.rollback()
                # As the scheduling job does: commit, then record the write for readers and the cache.
                published = await publish_and_announce(session, redis, datetime.now(UTC) + timedelta(hours=2))
        finally:
            await redis.aclose()
            await db.close()
        after = await client.get(f"/api/v1/articles/{scheduled['slug']}")
    assert past.status_code == 422 and past.json()["error"]["details"][0]["field"] == "scheduledAt"
    assert anonymous.status_code == 404 and own.status_code == 200
    assert [a["slug"] for a in drafts.json()["data"]] == [draft["slug"]]
    assert anonymous_drafts.status_code == 403
    assert scheduled["id"] in [str(i) for i in published]
    assert after.status_code == 200 and after.json()["data"]["status"] == "published"


async def test_listing_paginates_filters_sorts_and_searches(
    settings: Settings, topology: RunningTopology
) -> None:
    marker = uuid.uuid4().hex[:8]
    async with account_client(settings) as client:
        author, tokens = await signed_in(client)
        token = tokens["accessToken"]
        for i in range(5):
            await _write(
                client,
                token,
                title=f"Article {i} {marker}",
                tags=[f"tag-{marker}", "llm"],
                bodyHtml=f"<p>{'retrieval augmented generation' if i == 3 else 'kernels'} {marker}</p>",
            )
        page1 = await client.get(f"/api/v1/articles?author={author.username}&limit=2&page=1")
        page3 = await client.get(f"/api/v1/articles?author={author.username}&limit=2&page=3")
        by_tag = await client.get(f"/api/v1/articles?tag=tag-{marker}&limit=100")
        oldest = await client.get(f"/api/v1/articles?author={author.username}&sort=publishedAt")
        found = await client.get(f"/api/v1/articles?q=retrieval%20augmented%20{marker}")
        too_many = await client.get("/api/v1/articles?limit=101")
        bad_sort = await client.get("/api/v1/articles?sort=password")
    meta = page1.json()["meta"]["pagination"]
    assert meta == {"page": 1, "limit": 2, "total": 5, "totalPages": 3}
    assert len(page1.json()["data"]) == 2 and len(page3.json()["data"]) == 1
    assert len(by_tag.json()["data"]) == 5 and "bodyHtml" not in by_tag.json()["data"][0]
    assert oldest.json()["data"][0]["title"] == f"Article 0 {marker}"
    assert [a["title"] for a in found.json()["data"]] == [f"Article 3 {marker}"]
    assert too_many.status_code == 422 and bad_sort.status_code == 422


async def test_pages_deep_in_the_list_and_past_its_end_signed_in_or_not(settings: Settings) -> None:
    """The page's ids are read first, its columns after: every page holds the rows of the whole list's
    order, in order, and a page past the end (a search's too, whose order ranks by an argument the count
    does not take) answers an empty page with the total."""
    marker = uuid.uuid4().hex[:8]
    async with account_client(settings) as client:
        author, tokens = await signed_in(client)
        token = tokens["accessToken"]
        for i in range(7):
            await _write(client, token, title=f"Deep {i} {marker}", bodyHtml=f"<p>deep {marker}</p>")
        lists = {
            who: [
                await client.get(f"/api/v1/articles?author={author.username}&limit=1&page={page}", headers=h)
                for page in range(1, 9)  # pages past CONSTANT_PAGES take their paging as parameters
            ]
            for who, h in (("anonymous", {}), ("signed in", bearer(token)))
        }
        whole = await client.get(f"/api/v1/articles?author={author.username}&limit=100")
        searched_past = await client.get(f"/api/v1/articles?q=deep%20{marker}&page=9", headers=bearer(token))
    titles = [a["title"] for a in whole.json()["data"]]
    assert titles == [f"Deep {i} {marker}" for i in reversed(range(7))]  # newest first
    for who, pages in lists.items():
        assert [r.status_code for r in pages] == [200] * 8, who
        assert [a["title"] for r in pages for a in r.json()["data"]] == titles, who
        assert pages[7].json()["data"] == [], who
        assert pages[7].json()["meta"]["pagination"] == {"page": 8, "limit": 1, "total": 7, "totalPages": 7}
    assert searched_past.status_code == 200 and searched_past.json()["data"] == []
    assert searched_past.json()["meta"]["pagination"]["total"] == 7


async def test_an_articles_tag_slugs_follow_every_change_to_its_tags(
    settings: Settings, topology: RunningTopology
) -> None:
    """The list reads each article's tags from ``articles.tag_slugs``, which PostgreSQL's triggers keep
    (migration 0007): sorted, after the API's writes and after statements that bypass it (a tag renamed
    or deleted, a row of ``article_tags`` added by hand)."""
    marker = uuid.uuid4().hex[:8]
    async with account_client(settings) as client:
        author, tokens = await signed_in(client)
        token = tokens["accessToken"]
        article = await _write(client, token, tags=[f"zeta-{marker}", f"alpha-{marker}"])
        url = f"/api/v1/articles?author={author.username}"

        async def listed() -> list[str]:
            response = await client.get(url, headers=bearer(token))  # signed in: the database answers
            assert response.status_code == 200, response.text
            return list(response.json()["data"][0]["tags"])

        created = await listed()
        edited = await client.patch(
            f"/api/v1/articles/{article['slug']}", headers=bearer(token), json={"tags": [f"mid-{marker}"]}
        )
        assert edited.status_code == 200, edited.text
        after_edit = await listed()
        # Behind the product's back no write position is recorded: each list waits for the standby to
        # have replayed the statement.
        with topology.superuser("neurmatic_production") as db, topology.superuser(node=2) as standby:
            db.execute("UPDATE tags SET slug = %s WHERE slug = %s", (f"renamed-{marker}", f"mid-{marker}"))
            _await_replay(topology, standby)
            renamed = await listed()
            db.execute(
                "INSERT INTO article_tags (article_id, tag_id) SELECT %s, id FROM tags WHERE slug = %s",
                (article["id"], f"zeta-{marker}"),
            )
            _await_replay(topology, standby)
            added = await listed()
            db.execute("DELETE FROM tags WHERE slug = %s", (f"renamed-{marker}",))
            _await_replay(topology, standby)
            deleted = await listed()
    assert created == [f"alpha-{marker}", f"zeta-{marker}"]
    assert after_edit == [f"mid-{marker}"]
    assert renamed == [f"renamed-{marker}"]
    assert added == [f"renamed-{marker}", f"zeta-{marker}"]
    assert deleted == [f"zeta-{marker}"]


async def test_the_unfiltered_lists_total_is_the_count_postgresql_keeps(
    settings: Settings, topology: RunningTopology
) -> None:
    """``article_counts`` (migration 0008) follows every insert, status change and delete, so the
    unfiltered list's total, read from it, is the number of published articles; a TRUNCATE (rolled
    back here) zeroes it."""

    def counts(db: Any, query: str) -> dict[str, int]:
        return {str(status): int(n) for status, n in db.execute(query).fetchall()}

    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        gone = await _write(client, tokens["accessToken"])
        draft = await _write(client, tokens["accessToken"], status="draft")
        await _write(client, tokens["accessToken"], status="draft")
        published = await client.patch(
            f"/api/v1/articles/{draft['slug']}", headers=auth, json={"status": "published"}
        )
        deleted = await client.delete(f"/api/v1/articles/{gone['slug']}", headers=auth)
        assert published.status_code == 200 and deleted.status_code == 200
        admin, _ = create_admin(topology.state_dir)
        admin_auth = bearer((await login(client, admin)).json()["data"]["accessToken"])
        with topology.superuser("neurmatic_production") as db:
            # Other writers (the scheduled publisher) may move the counts meanwhile: compared in one
            # snapshot, and the lists against the count read right after them, until they agree.
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            kept = counts(db, "SELECT status, total FROM article_counts")
            actual = counts(db, "SELECT status, count(*) FROM articles GROUP BY status")
            db.execute("COMMIT")
            for _ in range(5):
                listed = {
                    "published": [
                        await client.get(url, headers=h)
                        for url in ("/api/v1/articles?limit=1", "/api/v1/articles?page=9999")
                        for h in (auth, {})
                    ],
                    "draft": [await client.get("/api/v1/articles?status=draft&limit=1", headers=admin_auth)],
                }
                now = counts(db, "SELECT status, total FROM article_counts")
                totals = {
                    status: {r.json()["meta"]["pagination"]["total"] for r in responses}
                    for status, responses in listed.items()
                }
                if totals == {s: {now[s]} for s in listed}:
                    break
            db.execute("BEGIN")
            db.execute("SET LOCAL lock_timeout = '5s'")
            db.execute("TRUNCATE articles CASCADE")
            emptied = counts(db, "SELECT status, total FROM article_counts")
            db.execute("ROLLBACK")
    assert {status: n for status, n in kept.items() if n} == actual
    assert totals == {s: {now[s]} for s in listed}, (totals, now)
    assert listed["published"][2].json()["data"] == []  # page 9999: past the end, with the total
    assert set(emptied.values()) == {0}


async def test_two_writers_tagging_one_article_at_once_both_count(
    settings: Settings, topology: RunningTopology
) -> None:
    """Two transactions add a tag to one article at once; the second waits for the first's lock on the
    article row. Its ``tag_slugs`` must hold both tags: derived after the wait, not as of before it."""
    marker = uuid.uuid4().hex[:8]
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        article = await _write(client, tokens["accessToken"], tags=[f"a-{marker}"])
        await _write(client, tokens["accessToken"], tags=[f"x-{marker}", f"y-{marker}"])
    add_tag = "INSERT INTO article_tags (article_id, tag_id) SELECT %s, id FROM tags WHERE slug = %s"
    with (
        topology.superuser("neurmatic_production") as first,
        topology.superuser("neurmatic_production") as second,
        topology.superuser("neurmatic_production") as observer,
    ):
        first.execute("BEGIN")
        first.execute(add_tag, (article["id"], f"x-{marker}"))
        second_pid = second.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]

        def second_writer() -> None:
            second.execute("BEGIN")
            second.execute(add_tag, (article["id"], f"y-{marker}"))
            second.execute("COMMIT")

        thread = threading.Thread(target=second_writer)
        thread.start()
        deadline = time.monotonic() + 10
        while not observer.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (second_pid,)
        ).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the second writer never waited for the first"
            time.sleep(0.02)
        first.execute("COMMIT")
        thread.join(timeout=10)
        assert not thread.is_alive()
        slugs = observer.execute("SELECT tag_slugs FROM articles WHERE id = %s", (article["id"],)).fetchone()
    assert slugs is not None and slugs[0] == [f"a-{marker}", f"x-{marker}", f"y-{marker}"]


async def test_a_signed_in_list_checks_the_account_in_its_own_statement(
    settings: Settings, topology: RunningTopology
) -> None:
    """The signed-in published list reads its reader's account with the page. An account suspended in the
    database behind the product's back (its sessions not ended, its WAL position not recorded) is refused
    with 401 and its session ended once the standby has replayed it; an account the standby has not
    replayed yet (replay paused) is confirmed on the primary, and its list is answered."""
    async with account_client(settings) as client:
        suspended, tokens = await signed_in(client)
        before = await client.get("/api/v1/articles?limit=1", headers=bearer(tokens["accessToken"]))
        with topology.superuser("neurmatic_production") as primary:
            primary.execute("UPDATE users SET status = 'suspended' WHERE id = %s", (suspended.user_id,))
        with topology.superuser(node=2) as standby:
            _await_replay(topology, standby)  # behind the product's back: refused once replayed
        refused = await client.get("/api/v1/articles?limit=1", headers=bearer(tokens["accessToken"]))
        with topology.superuser("neurmatic_production") as primary:
            primary.execute("UPDATE users SET status = 'active' WHERE id = %s", (suspended.user_id,))
        ended = await client.get("/api/v1/articles?limit=1", headers=bearer(tokens["accessToken"]))
        with topology.patroni_paused(), topology.superuser(node=2) as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
            try:
                _, newcomer = await signed_in(client)
                fresh = await client.get("/api/v1/articles?limit=1", headers=bearer(newcomer["accessToken"]))
            finally:
                standby.execute("SELECT pg_wal_replay_resume()")
            _await_replay(topology, standby)
    assert before.status_code == 200 and before.headers["x-read-from"] == "standby"
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "this account is not active"
    assert ended.status_code == 401 and "session has ended" in ended.json()["error"]["message"]
    assert fresh.status_code == 200 and fresh.headers["x-read-from"] == "standby", fresh.text
    assert len(fresh.json()["data"]) == 1


async def test_views_are_counted_in_redis_and_flushed_to_the_database(settings: Settings) -> None:
    from neurmatic.db.engines import Database
    from neurmatic.domain.articles.views import flush_views

    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        article = await _write(client, tokens["accessToken"])
        for _ in range(3):
            await client.get(f"/api/v1/articles/{article['slug']}")
        counted = (await client.get(f"/api/v1/articles/{article['slug']}")).json()["data"]["views"]
        app = asgi_app(client)
        db = Database(settings.database)
        try:
            async with db.session() as session:
                await flush_views(app.state.clients.redis, session)
            async with db.session() as session:
                from sqlalchemy import text

                stored = await session.scalar(
                    text("SELECT views FROM articles WHERE id = :id"), {"id": article["id"]}
                )
        finally:
            await db.close()
        after = (await client.get(f"/api/v1/articles/{article['slug']}")).json()["data"]["views"]
    assert counted == 4 and stored == 4 and after == 5


async def test_bookmarks(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        article = await _write(client, tokens["accessToken"])
        for _ in range(2):  # idempotent
            assert (
                await client.put(f"/api/v1/articles/{article['slug']}/bookmark", headers=auth)
            ).status_code == 200
        listed = (await client.get("/api/v1/users/me/bookmarks", headers=auth)).json()["data"]
        await client.delete(f"/api/v1/articles/{article['slug']}/bookmark", headers=auth)
        emptied = (await client.get("/api/v1/users/me/bookmarks", headers=auth)).json()["data"]
    assert [a["slug"] for a in listed] == [article["slug"]] and emptied == []


async def test_a_new_bookmark_notifies_the_author_once_and_never_for_their_own(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, author_tokens = await signed_in(client)
        author_auth = bearer(author_tokens["accessToken"])
        article = await _write(client, author_tokens["accessToken"])
        assert (
            await client.put(f"/api/v1/articles/{article['slug']}/bookmark", headers=author_auth)
        ).is_success
        reader, reader_tokens = await signed_in(client)
        reader_auth = bearer(reader_tokens["accessToken"])
        for _ in range(3):  # a repeated PUT, or removing and adding it again, says nothing more
            put = await client.put(f"/api/v1/articles/{article['slug']}/bookmark", headers=reader_auth)
            assert put.status_code == 200
            await client.delete(f"/api/v1/articles/{article['slug']}/bookmark", headers=reader_auth)
        listed = (await client.get("/api/v1/notifications", headers=author_auth)).json()["data"]
        reader_own = (
            await client.get("/api/v1/notifications", headers=bearer(reader_tokens["accessToken"]))
        ).json()["data"]
    bookmarks = [n for n in listed if n["kind"] == "bookmark"]
    assert [(n["title"], n["body"], n["data"]["slug"]) for n in bookmarks] == [
        (f"{reader.username} bookmarked your article", article["title"], article["slug"])
    ]
    assert not [n for n in reader_own if n["kind"] == "bookmark"]


async def test_anonymous_reads_are_cached_and_invalidated_on_write(settings: Settings) -> None:
    marker = uuid.uuid4().hex[:8]
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        await _write(client, tokens["accessToken"], tags=[f"cache-{marker}"])
        url = f"/api/v1/articles?tag=cache-{marker}"
        first, second = await client.get(url), await client.get(url)
        await _write(client, tokens["accessToken"], tags=[f"cache-{marker}"])
        after_write = await client.get(url)
    assert first.headers["x-app-cache"] == "MISS" and second.headers["x-app-cache"] == "HIT"
    assert second.json() == first.json() and len(second.json()["data"]) == 1
    assert after_write.headers["x-app-cache"] == "MISS" and len(after_write.json()["data"]) == 2
    assert first.headers["cache-control"] == "no-cache"  # nginx must not keep a copy it cannot purge


async def test_no_read_goes_back_in_time_and_reads_use_the_standby_once_it_has_replayed(
    settings: Settings, topology: RunningTopology
) -> None:
    """With the standby's replay paused (a lagging standby), every read after a write comes from the
    primary, for the writer, another user and anonymous readers alike: the article is there as soon as it
    is written and gone as soon as it is deleted. Once the standby has replayed, reads go to it again."""
    async with account_client(settings) as client:
        _, writer = await signed_in(client)
        _, reader = await signed_in(client)
        with topology.patroni_paused(), topology.superuser(node=2) as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
            try:
                article = await _write(client, writer["accessToken"])
                url = f"/api/v1/articles/{article['slug']}"
                reads = [
                    await client.get(url, headers=bearer(writer["accessToken"])),
                    await client.get(url, headers=bearer(reader["accessToken"])),
                    await client.get(url),
                ]
                deleted = await client.delete(url, headers=bearer(writer["accessToken"]))
                gone = [await client.get(url), await client.get(url, headers=bearer(reader["accessToken"]))]
            finally:
                standby.execute("SELECT pg_wal_replay_resume()")
            _await_replay(topology, standby)
        later = await client.get("/api/v1/articles?limit=1", headers=bearer(reader["accessToken"]))
    assert [(r.status_code, r.headers["x-read-from"]) for r in reads] == [(200, "primary")] * 3
    assert all(r.json()["data"]["slug"] == article["slug"] for r in reads)
    assert deleted.status_code == 200 and [r.status_code for r in gone] == [404, 404]
    assert later.status_code == 200 and later.headers["x-read-from"] == "standby"


def _await_replay(topology: RunningTopology, standby: Any) -> None:
    with topology.superuser() as primary:
        position = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 30
    while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", position).fetchone()[0]:
        assert time.monotonic() < deadline, "the standby did not catch up after its replay was resumed"
        time.sleep(0.05)


async def test_a_standby_connection_that_landed_on_the_primary_is_named_so_and_replaced(
    settings: Settings, topology: RunningTopology
) -> None:
    """``prefer-standby`` falls back to the primary when no standby answers. A pooled standby connection
    opened then is on the primary: a read on it must say so (not "standby"), and the pool must open a
    new one, which finds the standby again."""
    from pydantic import SecretStr

    from neurmatic.api.articles.cache import replayed
    from neurmatic.db.engines import Database, on_standby

    with topology.superuser() as primary:  # node 1 unless a test swapped them: ask
        port = primary.execute("SELECT inet_server_port()").fetchone()
    url = settings.database.url.get_secret_value()
    hosts = url.split("@", 1)[1].split("/", 1)[0]
    primary_only = url.replace(hosts, f"127.0.0.1:{port[0] if port else 0}").replace(
        "target_session_attrs=read-write", "target_session_attrs=prefer-standby"
    )
    assert "prefer-standby" in primary_only
    db = Database(settings.database.model_copy(update={"replica_url": SecretStr(primary_only)}))
    db.replica_state.healthy = True  # as if the last check had found the standby well
    try:
        assert db.replica is not None
        raw = await db.replica.raw_connection()  # the standby engine's connection, on the primary
        stray = raw.driver_connection
        assert stray is not None and not on_standby(stray)
        assert not await replayed(stray, 0)  # before: "replayed", and read as the standby's
        raw.close()
        async with db.driver_connection(standby=True) as conn:  # dropped, the primary's pool answers
            assert not on_standby(conn) and conn is not stray
        assert stray.is_closed()  # not kept: the next one opened tries the standby first
    finally:
        await db.close()


async def test_a_standby_connection_asks_its_replay_position_once_per_newer_write(settings: Settings) -> None:
    """A standby never replays backwards, so a pooled standby connection that saw a write replayed
    answers later reads of it without asking again; a newer write's position is asked."""
    from neurmatic.api.articles.cache import replayed
    from neurmatic.db.engines import Database, on_standby

    db = Database(settings.database)
    await db.start()
    statements: list[str] = []
    try:
        async with db.driver_connection(standby=True) as conn:
            assert on_standby(conn), "the test needs the topology's standby"
            conn.add_query_logger(lambda record: statements.append(record.query))
            now = int(await conn.fetchval("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"))
            statements.clear()
            assert await replayed(conn, now) and len(statements) == 1
            assert await replayed(conn, now - 1) and await replayed(conn, now) and len(statements) == 1
            beyond = now + 10**12  # a write the standby has not replayed (yet): asked, and not replayed
            assert not await replayed(conn, beyond) and len(statements) == 2
            assert not await replayed(conn, beyond) and len(statements) == 3  # still asked, each time
    finally:
        await db.close()


async def test_a_client_over_the_limit_is_not_sent_the_cached_body_again(settings: Settings) -> None:
    """The list's round trip reads the cached entry with the count; once this process has seen a client
    refused, its next refusals leave the entry out (a flood would otherwise pull a page per 429)."""
    from neurmatic.adapters.redis import async_master, async_sentinel
    from neurmatic.adapters.redis_pipe import pipelined_master
    from neurmatic.api.articles.cache import ArticleCache
    from neurmatic.api.security.rate_limit import Limit, rate_key

    sentinel = async_sentinel(settings.redis)
    redis = async_master(settings.redis, sentinel)
    pipe = pipelined_master(settings.redis, sentinel)
    cache = ArticleCache(redis, pipe)
    request_key, body = f"list:refused-{uuid.uuid4().hex}", b"x" * 100_000
    limit, client = Limit(1, 60), rate_key("global", f"refused-{uuid.uuid4().hex}")

    async def sent_bytes() -> int:
        return int((await redis.info("stats"))["total_net_output_bytes"])

    try:
        view = await cache.view()
        assert view is not None
        await cache.put(view, request_key, body)
        allowed, _, first, _ = await cache.hit_and_read(client, limit, request_key)
        assert allowed.allowed and first == body
        refused, _, nothing, _ = await cache.hit_and_read(client, limit, request_key)
        assert not refused.allowed and nothing is None
        before = await sent_bytes()
        for _ in range(20):
            decision, _, nothing, _ = await cache.hit_and_read(client, limit, request_key)
            assert not decision.allowed and nothing is None
        assert await sent_bytes() - before < 100_000, "refused reads were sent the cached body"
    finally:
        if pipe is not None:
            pipe.close()
        await redis.aclose()
        if sentinel is not None:
            for node in sentinel.sentinels:
                await node.aclose()
