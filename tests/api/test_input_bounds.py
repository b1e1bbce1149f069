"""Input that once answered 500: an unbounded page number (BIGINT overflow in the offset) and tags that
normalize to one slug (a duplicate key in ``article_tags``)."""

from __future__ import annotations

from typing import Any

from neurmatic.api.pagination import MAX_LIMIT, MAX_PAGE
from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, create_admin, login, signed_in
from tests.conftest import RunningTopology

HUGE = "1" + "0" * 29  # a 30-digit page: (page - 1) * limit overflows a BIGINT


def _paged_operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every GET of the API that takes a ``page``, with its parameters by name."""
    paged = {}
    for path, operations in spec["paths"].items():
        parameters = {p["name"]: p for p in operations.get("get", {}).get("parameters", [])}
        if "page" in parameters:
            paged[path] = parameters
    return paged


async def test_every_list_endpoint_bounds_its_paging(settings: Settings, topology: RunningTopology) -> None:
    async with account_client(settings) as client:
        admin, _ = create_admin(topology.state_dir)
        auth = bearer((await login(client, admin)).json()["data"]["accessToken"])
        spec = (await client.get("/api/openapi.json")).json()
        paged = _paged_operations(spec)
        answers = {}
        for path in paged:
            for query in (f"page={HUGE}", "page=0", f"page={MAX_PAGE + 1}", f"limit={MAX_LIMIT + 1}"):
                answers[(path, query)] = await client.get(f"{path}?{query}", headers=auth)
            answers[(path, "last")] = await client.get(
                f"{path}?page={MAX_PAGE}&limit={MAX_LIMIT}", headers=auth
            )
    assert {"/api/v1/articles", "/api/v1/notifications", "/api/v1/admin/users"} <= set(paged)
    for path, parameters in paged.items():
        assert parameters["page"]["schema"]["maximum"] == MAX_PAGE, path
        assert parameters["limit"]["schema"]["maximum"] == MAX_LIMIT, path
    for (path, query), response in answers.items():
        if query == "last":  # the largest page allowed is an empty page, not an error
            assert response.status_code == 200 and response.json()["data"] == [], (path, response.text)
        else:
            assert response.status_code == 422, (path, query, response.status_code, response.text)
            assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_tags_that_normalize_to_one_slug_are_one_tag(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        created = await client.post(
            "/api/v1/articles",
            headers=auth,
            json={"title": "Tags that collide", "bodyHtml": "<p>x</p>", "tags": ["LLM", "llm", " LLM "]},
        )
        slug = created.json()["data"]["slug"]
        patched = await client.patch(
            f"/api/v1/articles/{slug}", headers=auth, json={"tags": ["RAG", "rag", "LLM", "llm!"]}
        )
        again = await client.post(
            "/api/v1/articles",
            headers=auth,
            json={"title": "Tags that exist", "bodyHtml": "<p>x</p>", "tags": ["rag", "Rag"]},
        )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["tags"] == ["llm"]
    assert patched.status_code == 200, patched.text
    assert sorted(patched.json()["data"]["tags"]) == ["llm", "rag"]
    assert again.status_code == 201 and again.json()["data"]["tags"] == ["rag"]


async def test_a_nul_character_is_a_validation_error_not_a_500(settings: Settings) -> None:
    # Found by the conformance run: PostgreSQL cannot store NUL, and a query string or JSON string can
    # carry one ("invalid byte sequence for encoding UTF8: 0x00" answered 500).
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        searched = await client.get("/api/v1/articles", params={"q": "a\x00b", "author": "x\x00"})
        created = await client.post(
            "/api/v1/articles",
            headers=bearer(tokens["accessToken"]),
            json={"title": "Nul \x00 title", "body": "<p>body</p>", "category": "news"},
        )
    assert searched.status_code == 422 and searched.json()["error"]["code"] == "VALIDATION_ERROR"
    assert created.status_code in (404, 422), created.text  # an unknown category may be found first
    assert created.status_code != 500
