"""Malformed input never produces a 500, and every endpoint documents its errors in OpenAPI."""

from __future__ import annotations

import json
from typing import Any

from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, signed_in
from tests.conftest import RunningTopology

HOSTILE_BODIES: list[Any] = [
    None,
    [],
    "",
    0,
    -1,
    1e308,
    True,
    "x" * 5000,
    {"email": None},
    {"email": ["a"]},
    {"password": {"$gt": ""}},
    {"email": "a@b.c", "password": "\u0000\ud7ff\U0001f600" * 10},
    {"refreshToken": "a.b.c"},
    {"token": "' OR 1=1--"},
    {"code": "<script>alert(1)</script>"},
    {"email": "x" * 300 + "@example.com", "password": "p"},
    {"displayName": 12345},
    {"role": "superuser"},
    {"status": "active", "role": "admin"},
    {"a": {"b": {"c": [1]}}},
]


def _write_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    routes = []
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in ("post", "patch", "put", "delete"):
                routes.append(
                    (
                        method.upper(),
                        path.replace("{provider}", "google")
                        .replace("{session_id}", "x")
                        .replace("{user_id}", "00000000-0000-0000-0000-000000000000"),
                    )
                )
    return routes


async def test_hostile_bodies_never_cause_a_server_error(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        spec = (await client.get("/api/openapi.json")).json()
        routes = _write_routes(spec)
        assert len(routes) >= 8
        failures = []
        for method, path in routes:
            for body in HOSTILE_BODIES:
                for headers in ({}, bearer(tokens["accessToken"])):
                    response = await client.request(
                        method,
                        path,
                        content=json.dumps(body),
                        headers={"content-type": "application/json", **headers},
                    )
                    if response.status_code >= 500 or response.json().get("success") is not False:
                        if response.status_code < 300:
                            continue  # some bodies are valid somewhere (e.g. an empty profile update)
                        failures.append((method, path, body, response.status_code, response.text[:200]))
    assert failures == []


async def test_every_endpoint_is_documented_with_its_errors(settings: Settings) -> None:
    async with account_client(settings) as client:
        spec = (await client.get("/api/openapi.json")).json()
    undocumented = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = {int(code) for code in operation.get("responses", {}) if code.isdigit()}
            can_fail = path != "/api/v1/health/live"  # liveness answers 200 or not at all
            if not operation.get("summary") or (can_fail and not any(400 <= code < 600 for code in codes)):
                undocumented.append(f"{method.upper()} {path}")
    assert undocumented == []
    assert "ErrorBody" in spec["components"]["schemas"]


async def test_bcrypt_rounds_are_honoured(settings: Settings, topology: RunningTopology) -> None:
    import psycopg

    state = topology.state
    async with account_client(
        settings.model_copy(update={"auth": settings.auth.model_copy(update={"bcrypt_rounds": 5})})
    ) as client:
        account, _ = await signed_in(client)
    with psycopg.connect(
        host="127.0.0.1",
        port=state.ports.postgres(1),
        user="neurmatic",
        password=state.secrets["POSTGRES_PASSWORD"],
        dbname="neurmatic_production",
    ) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE email = %s", (account.email,)).fetchone()
    assert stored is not None and stored[0].startswith("$2b$05$")
