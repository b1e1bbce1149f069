"""The API answers what /api/openapi.json says it may: every status code an operation answers is documented
for it, with the error body; and a malformed Authorization header is a 401, also where signing in is
optional (it was once read as anonymous)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, fast_settings, signed_in
from tests.conftest import RunningTopology

MALFORMED_AUTHORIZATION = ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer-abc", ""]
BODY_LIMIT = 2048


@pytest.fixture
def settings(topology: RunningTopology) -> Settings:
    fast = fast_settings(topology.app_settings())
    return fast.model_copy(update={"app": fast.app.model_copy(update={"max_body_bytes": BODY_LIMIT})})


@pytest.mark.parametrize("authorization", MALFORMED_AUTHORIZATION)
async def test_a_malformed_authorization_header_is_a_401_even_where_sign_in_is_optional(
    settings: Settings, authorization: str
) -> None:
    async with account_client(settings) as client:
        anonymous = await client.get("/api/v1/articles")
        malformed = {
            path: await client.get(path, headers={"Authorization": authorization})
            for path in ("/api/v1/articles", "/api/v1/articles/no-such-article", "/api/v1/users/me")
        }
    assert anonymous.status_code == 200  # no header at all: anonymous, as before
    for path, response in malformed.items():
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_malformed_header_does_not_fall_back_to_the_session_cookie(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        with_cookie = {"Cookie": f"neurmatic_access={tokens['accessToken']}"}
        cookie_only = await client.get("/api/v1/users/me", headers=with_cookie)
        both = await client.get("/api/v1/users/me", headers={**with_cookie, "Authorization": "Basic eDp5"})
    assert cookie_only.status_code == 200
    assert both.status_code == 401


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation; signing out last, so the probes with a valid token stay signed in until then."""
    operations = [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    return sorted(operations, key=lambda operation: "logout" in operation[1])


def _concrete(path: str) -> str:
    """The path with every parameter filled with a value no resource has (and that no UUID parses)."""
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "no-such-thing" + path[end + 1 :]
    return path


def _probes(op: dict[str, Any], token: str) -> list[dict[str, Any]]:
    """Requests that reach the layers every request crosses: sign-in, body parsing, size limit."""
    probes: list[dict[str, Any]] = [
        {},
        {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
        {"headers": bearer("not.a.token")},
        {"headers": bearer(token)},
    ]
    if "requestBody" in op:
        json_body = {"content-type": "application/json"}
        probes += [
            {"content": b'{"email": ', "headers": json_body},
            {"content": json.dumps({"x": "y" * BODY_LIMIT}).encode(), "headers": json_body},
            {"content": b"[]", "headers": {**json_body, **bearer(token)}},
        ]
    return probes


async def test_every_answer_is_documented_for_its_operation(settings: Settings) -> None:
    undocumented = []
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        spec = (await client.get("/api/openapi.json")).json()
        for method, path, op in _operations(spec):
            documented = set(op["responses"])
            for probe in _probes(op, tokens["accessToken"]):
                response: httpx.Response = await client.request(method.upper(), _concrete(path), **probe)
                status = str(response.status_code)
                if status not in documented:
                    undocumented.append(
                        (method.upper(), path, probe.get("headers"), status, response.text[:120])
                    )
                elif response.status_code >= 400:
                    schema = op["responses"][status]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                    assert response.json()["success"] is False and response.json()["error"]["code"]
    assert undocumented == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_the_shared_errors_carry_their_headers_in_the_schema(settings: Settings) -> None:
    async with account_client(settings) as client:
        spec = (await client.get("/api/openapi.json")).json()
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"400", "401", "413", "422", "429", "503"} <= set(login)
    assert "Retry-After" in login["429"]["headers"] and "WWW-Authenticate" in login["401"]["headers"]
    articles = spec["paths"]["/api/v1/articles"]["get"]["responses"]
    assert "401" in articles  # optional sign-in: a bad token or a malformed header is a 401
