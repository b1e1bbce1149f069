"""The front door answers cached anonymous list reads itself; each such answer must carry everything the
full stack guarantees (request id, security headers, rate-limit headers and counting, metrics, access
log), and every request it must not answer (signed in, malformed credentials, CORS) must reach the app."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, fast_settings, signed_in
from tests.api.conftest import api_client, asgi_app
from tests.conftest import RunningTopology


async def _publish(client: httpx.AsyncClient, token: str, tag: str, status: str = "published") -> None:
    body = {"title": f"Front door {uuid.uuid4().hex[:6]}", "bodyHtml": "<p>x</p>", "status": status}
    response = await client.post("/api/v1/articles", headers=bearer(token), json={**body, "tags": [tag]})
    assert response.status_code == 201, response.text


async def _author_of(client: httpx.AsyncClient, tag: str) -> str:
    """Sign a new member in, publish one article tagged ``tag``; the member's access token."""
    _, tokens = await signed_in(client)
    await _publish(client, tokens["accessToken"], tag)
    return str(tokens["accessToken"])


def _requests_counted(text: str, status: str) -> float:
    prefix = f'neurmatic_http_requests_total{{method="GET",route="/api/v1/articles",status="{status}"}}'
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _scrape(client: httpx.AsyncClient) -> str:
    forwarded = client.headers.pop("X-Forwarded-For")
    try:
        return (await client.get("/internal/metrics")).text
    finally:
        client.headers["X-Forwarded-For"] = forwarded


async def test_a_cached_hit_carries_everything_the_full_stack_gives(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        await _author_of(client, tag)
        url = f"/api/v1/articles?tag={tag}"
        miss = await client.get(url)
        before = _requests_counted(await _scrape(client), "200")
        with caplog.at_level(logging.INFO, logger="neurmatic.access"):
            hits = [await client.get(url, headers={"X-Request-ID": f"door-test-{i:04d}"}) for i in range(3)]
        after = _requests_counted(await _scrape(client), "200")
    assert miss.headers["x-app-cache"] == "MISS"
    for index, hit in enumerate(hits):
        assert hit.status_code == 200 and hit.headers["x-app-cache"] == "HIT"
        assert hit.headers["x-read-from"] == "cache" and hit.headers["cache-control"] == "no-cache"
        assert hit.json() == miss.json() and hit.headers["content-type"] == "application/json"
        assert hit.headers["x-request-id"] == f"door-test-{index:04d}"
        for name in ("strict-transport-security", "x-content-type-options", "content-security-policy"):
            assert name in hit.headers, name
    # Counted once each against the global limit, hit or miss: the remaining count falls by exactly one.
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in (miss, *hits)]
    assert remaining == [remaining[0] - i for i in range(4)], remaining
    assert after - before == 3, (before, after)  # the hits are counted under the route's template
    logged = [r for r in caplog.records if getattr(r, "request_id", "").startswith("door-test-")]
    assert [(vars(r)["route"], vars(r)["status"]) for r in logged] == [("/api/v1/articles", 200)] * 3


async def test_a_client_over_the_global_limit_gets_the_json_429_from_the_front_door(
    topology: RunningTopology,
) -> None:
    base = fast_settings(topology.app_settings())
    tight = base.model_copy(update={"rate_limit": base.rate_limit.model_copy(update={"max_requests": 3})})
    async with account_client(tight) as client:
        answers = [await client.get("/api/v1/articles?limit=1") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused.headers["retry-after"]) > 0 and refused.headers["x-ratelimit-remaining"] == "0"
    assert "x-request-id" in refused.headers and "content-security-policy" in refused.headers


@pytest.mark.parametrize(
    ("headers", "status", "cache"),
    [
        ({"Authorization": "Token abc"}, 401, None),  # malformed credentials are refused, not served
        ({"Authorization": "Bearer not-a-token"}, 401, None),
        ({"Cookie": "neurmatic_access=not-a-token"}, 401, None),
        ({"Origin": "https://evil.example"}, 200, "HIT"),  # CORS: the full stack answers, still cached
    ],
)
async def test_requests_the_front_door_must_not_answer_reach_the_app(
    settings: Settings, headers: dict[str, str], status: int, cache: str | None
) -> None:
    async with account_client(settings) as client:
        url = "/api/v1/articles?limit=2&sort=-createdAt"
        await client.get(url)  # cached
        answer = await client.get(url, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers.get("x-app-cache") == cache
    if "Origin" in headers:
        assert "access-control-allow-origin" not in answer.headers  # not an allowed origin
        assert "origin" in answer.headers.get("vary", "").lower()


async def test_a_signed_in_list_is_read_from_the_database_not_the_cache(settings: Settings) -> None:
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        token = await _author_of(client, tag)
        url = f"/api/v1/articles?tag={tag}"
        anonymous = [await client.get(url) for _ in range(2)]
        member = await client.get(url, headers=bearer(token))
    assert anonymous[1].headers["x-app-cache"] == "HIT"
    assert member.status_code == 200 and "x-app-cache" not in member.headers
    assert member.headers["x-read-from"] in ("standby", "primary")
    assert member.json()["data"] == anonymous[1].json()["data"]


async def test_saving_a_draft_keeps_the_cache_and_publishing_forgets_it(settings: Settings) -> None:
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        token = await _author_of(client, tag)
        url = f"/api/v1/articles?tag={tag}"
        await client.get(url)
        await _publish(client, token, tag, status="draft")
        after_draft = await client.get(url)
        own_drafts = await client.get(f"{url}&status=draft", headers=bearer(token))
        await _publish(client, token, tag)
        after_publish = await client.get(url)
    assert after_draft.headers["x-app-cache"] == "HIT" and len(after_draft.json()["data"]) == 1
    assert len(own_drafts.json()["data"]) == 1  # the author reads the draft at once (its write position)
    assert after_publish.headers["x-app-cache"] == "MISS" and len(after_publish.json()["data"]) == 2


async def test_pages_past_the_end_and_filters_answer_like_before(settings: Settings) -> None:
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        for _ in range(3):
            await _publish(client, tokens["accessToken"], tag)
        auth = bearer(tokens["accessToken"])
        pages: list[Any] = [
            (await client.get(f"/api/v1/articles?tag={tag}&limit=2&page={n}", headers=auth)).json()
            for n in (1, 2, 3)
        ]
    assert [len(p["data"]) for p in pages] == [2, 1, 0]
    assert {p["meta"]["pagination"]["total"] for p in pages} == {3}
    assert all(a["tags"] == [tag] for p in pages for a in p["data"])


async def test_the_app_answers_the_cached_list_when_redis_is_unreachable(topology: RunningTopology) -> None:
    """The front door's round trip fails: the rate limit fails open and the database answers."""
    base = fast_settings(topology.app_settings())
    broken = base.model_copy(
        update={
            "redis": base.redis.model_copy(
                update={
                    "sentinels": [],
                    "url": SecretStr("redis://127.0.0.1:9/0"),
                    "socket_timeout_seconds": 0.5,
                }
            )
        }
    )
    async with api_client(broken) as client:
        answer = await client.get("/api/v1/articles?limit=1")
    assert answer.status_code == 200 and answer.headers["x-read-from"] == "primary"


async def test_a_cached_article_page_counts_each_view_and_reports_its_route(settings: Settings) -> None:
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        await _author_of(client, tag)
        slug = (await client.get(f"/api/v1/articles?tag={tag}")).json()["data"][0]["slug"]
        pages = [await client.get(f"/api/v1/articles/{slug}") for _ in range(3)]
        cors = await client.get(f"/api/v1/articles/{slug}", headers={"Origin": "https://evil.example"})
        metrics = await _scrape(client)
    assert [p.headers["x-app-cache"] for p in pages] == ["MISS", "HIT", "HIT"]
    assert cors.headers["x-app-cache"] == "HIT"  # answered by the route from the same entry
    assert [p.json()["data"]["views"] for p in (*pages, cors)] == [1, 2, 3, 4]
    assert all(p.json()["data"]["slug"] == slug and "bodyHtml" in p.json()["data"] for p in pages)
    hits = 'neurmatic_http_requests_total{method="GET",route="/api/v1/articles/{slug}",status="200"}'
    assert hits in metrics


async def test_a_signed_in_list_after_sign_out_is_refused_with_the_routes_answer(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        before = await client.get("/api/v1/articles?limit=1", headers=auth)
        assert (await client.post("/api/v1/auth/logout", headers=auth)).status_code == 200
        after = await client.get("/api/v1/articles?limit=1", headers=auth)
        odd_page = await client.get("/api/v1/articles?limit=1&page=x", headers=auth)  # left to the route
    assert before.status_code == 200 and before.headers["x-read-from"] in ("standby", "primary")
    assert (
        after.status_code == 401
        and after.json()["error"]["message"] == "this session has ended; sign in again"
    )
    assert after.headers["www-authenticate"].startswith("Bearer")
    assert odd_page.status_code == 401  # the route authenticates before it validates
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in (before, after)]
    assert remaining[0] - remaining[1] == 2  # the sign-out in between, and this request: each counted once


async def test_the_views_flush_forgets_cached_article_pages_but_keeps_lists(settings: Settings) -> None:
    from neurmatic.db.engines import Database
    from neurmatic.domain.articles.views import flush_views

    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        await _author_of(client, tag)
        url = f"/api/v1/articles?tag={tag}"
        slug = (await client.get(url)).json()["data"][0]["slug"]
        pages = [await client.get(f"/api/v1/articles/{slug}") for _ in range(2)]
        db = Database(settings.database)
        try:
            async with db.session() as session:
                await flush_views(asgi_app(client).state.clients.redis, session)
        finally:
            await db.close()
        list_after, page_after = await client.get(url), await client.get(f"/api/v1/articles/{slug}")
    assert [p.headers["x-app-cache"] for p in pages] == ["MISS", "HIT"]
    assert list_after.headers["x-app-cache"] == "HIT"
    assert page_after.headers["x-app-cache"] == "MISS" and page_after.json()["data"]["views"] == 3


async def test_an_anonymous_article_page_answers_like_the_route(settings: Settings) -> None:
    """Read by the front door (anonymous), then by the route (signed in, so never cached): same page."""
    tag = f"door-{uuid.uuid4().hex[:8]}"
    async with account_client(settings) as client:
        token = await _author_of(client, tag)
        slug = (await client.get(f"/api/v1/articles?tag={tag}")).json()["data"][0]["slug"]
        anonymous = await client.get(f"/api/v1/articles/{slug}")
        signed_in_page = await client.get(f"/api/v1/articles/{slug}", headers=bearer(token))
        missing = await client.get("/api/v1/articles/no-such-article-anywhere")
        draft = await client.post(
            "/api/v1/articles",
            headers=bearer(token),
            json={"title": f"Hidden {tag}", "bodyHtml": "<p>draft</p>", "status": "draft"},
        )
        hidden = await client.get(f"/api/v1/articles/{draft.json()['data']['slug']}")
    assert anonymous.headers["x-app-cache"] == "MISS" and "x-app-cache" not in signed_in_page.headers
    page, routed = anonymous.json()["data"], signed_in_page.json()["data"]
    assert {k: v for k, v in page.items() if k != "views"} == {
        k: v for k, v in routed.items() if k != "views"
    }
    assert routed["views"] == page["views"] + 1
    for answer in (missing, hidden):
        assert answer.status_code == 404 and answer.json()["error"]["message"] == "no such article"


async def test_a_search_that_finds_nothing_answers_an_empty_page(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        for headers in ({}, bearer(tokens["accessToken"])):
            for query in ("q=zeppelinxyz", "q=zeppelinxyz&page=3", "q=zeppelinxyz&sort=-views"):
                answer = await client.get(f"/api/v1/articles?{query}", headers=headers)
                assert answer.status_code == 200, (query, answer.text)
                assert answer.json()["data"] == [] and answer.json()["meta"]["pagination"]["total"] == 0


async def test_credentials_with_stray_spaces_are_judged_as_the_route_judges_them(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        token = tokens["accessToken"]
        exact = await client.get("/api/v1/articles?limit=1", headers={"Authorization": f"Bearer {token}"})
        spaced = await client.get("/api/v1/articles?limit=1", headers={"Authorization": f"Bearer  {token}"})
        lower = await client.get("/api/v1/articles?limit=1", headers={"Authorization": f"bearer {token}"})
    assert exact.status_code == lower.status_code == spaced.status_code == 200  # FastAPI strips the spaces
    assert exact.json()["data"] == spaced.json()["data"] == lower.json()["data"]


async def test_absurd_query_values_get_the_routes_json_answers(settings: Settings) -> None:
    async with account_client(settings) as client:
        answers = {
            "huge page": await client.get("/api/v1/articles?page=" + "1" * 4400),
            "huge limit": await client.get("/api/v1/articles?limit=" + "9" * 5000),
            "drafts, anonymous": await client.get("/api/v1/articles?status=draft&x=1"),
            "spaced cookie": await client.get(
                "/api/v1/articles?limit=1", headers={"Cookie": "neurmatic_access =not-a-token"}
            ),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"huge page": 422, "huge limit": 422, "drafts, anonymous": 403, "spaced cookie": 401}
    assert all(answer.json()["success"] is False for answer in answers.values())


async def test_a_saturated_database_pool_sheds_the_request_with_a_503(topology: RunningTopology) -> None:
    """No pooled connection within DATABASE_POOL_TIMEOUT: 503 with Retry-After, well inside the edge's
    upstream timeout (which would take the instance out), never a 500."""
    from sqlalchemy.util import greenlet_spawn

    base = fast_settings(topology.app_settings())
    tight = base.model_copy(
        update={"database": base.database.model_copy(update={"pool_size": 1, "pool_timeout_seconds": 0.3})}
    )
    async with account_client(tight) as client:
        db = asgi_app(client).state.clients.db
        # Each engine's one pooled connection (the pool has no overflow: engines.make_engine).
        held = [await engine.raw_connection() for engine in (db.primary, db.replica)]
        try:
            started = time.monotonic()
            shed = await client.get(f"/api/v1/articles?tag=saturated-{uuid.uuid4().hex[:8]}")
            waited = time.monotonic() - started
            # The standby's health check does not queue behind the requests: it has its own connection.
            assert (await db.check_replica()).healthy
        finally:
            for connection in held:
                await greenlet_spawn(connection.close)
        after = await client.get(f"/api/v1/articles?tag=saturated-{uuid.uuid4().hex[:8]}")
    assert shed.status_code == 503 and shed.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert int(shed.headers["retry-after"]) > 0 and waited < 3
    assert after.status_code == 200


async def test_the_app_applies_the_proxys_headers_before_anything_reads_the_client(
    settings: Settings,
) -> None:
    # uvicorn runs without --proxy-headers: the app itself must make the forwarded client the client.
    seen: list[dict[str, Any]] = []
    async with api_client(settings) as client:  # from 127.0.0.1, a trusted proxy; base URL https
        door: Any = asgi_app(client).front_door  # type: ignore[attr-defined]
        answer = door.app

        async def watched(scope: Any, receive: Any, send: Any) -> None:
            seen.append({"client": scope["client"], "scheme": scope["scheme"]})
            await answer(scope, receive, send)

        door.app = watched
        try:
            relayed = await client.get(
                "/api/v1/categories", headers={"X-Forwarded-For": "203.0.113.77", "X-Forwarded-Proto": "http"}
            )
        finally:
            door.app = answer
    assert relayed.status_code == 200
    assert seen == [{"client": ("203.0.113.77", 0), "scheme": "http"}]
