"""Registration, login, refresh rotation with reuse detection, logout, sessions."""

from __future__ import annotations

import time

import jwt
import pytest

from neurmatic.api.auth import service
from neurmatic.settings import Settings
from tests.api.accounts import (
    account_client,
    bearer,
    login,
    new_account,
    register,
    signed_in,
)
from tests.support import PASSWORD


async def test_register_then_login_returns_tokens_and_user(settings: Settings) -> None:
    async with account_client(settings) as client:
        account = new_account()
        created = await register(client, account)
        assert created.status_code == 201
        assert created.json()["data"]["email"] == account.email and "password" not in created.text
        data = (await login(client, account)).json()["data"]
        assert data["expiresIn"] == 15 * 60 and data["tokenType"] == "Bearer"
        assert data["user"]["id"] == account.user_id
        me = await client.get("/api/v1/users/me", headers=bearer(data["accessToken"]))
    assert me.status_code == 200 and me.json()["data"]["username"] == account.username
    claims = jwt.decode(data["refreshToken"], options={"verify_signature": False})
    assert 29 * 86400 < claims["exp"] - claims["iat"] <= 30 * 86400


async def test_email_is_case_insensitive_and_duplicates_conflict(settings: Settings) -> None:
    async with account_client(settings) as client:
        account = new_account()
        await register(client, account)
        again = new_account()
        again.email = account.email.upper()
        duplicate = await register(client, again)
        same_name = new_account()
        same_name.username = account.username.upper()
        taken = await register(client, same_name)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "CONFLICT"
    assert taken.status_code == 409 and taken.json()["error"]["details"][0]["field"] == "username"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "a b"}, "username"),
        ({"termsAccepted": False}, "termsAccepted"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_register_validation_names_the_field(
    settings: Settings, body: dict[str, object], field: str
) -> None:
    account = new_account()
    payload = {
        "email": account.email,
        "username": account.username,
        "password": PASSWORD,
        "termsAccepted": True,
        **body,
    }
    async with account_client(settings) as client:
        response = await client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in error["details"]]


async def test_wrong_password_and_unknown_email_get_the_same_answer(settings: Settings) -> None:
    async with account_client(settings) as client:
        account, _ = await signed_in(client)
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": "Wrong-Pass-123"}
        )
        unknown = await client.post(
            "/api/v1/auth/login", json={"email": "nobody-here@example.com", "password": "Wrong-Pass-123"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the grace window for lost responses (test_refresh_grace.py), which would answer this replay.
    monkeypatch.setattr(service, "REFRESH_GRACE_SECONDS", 0)
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        first = tokens["refreshToken"]
        rotated = await client.post("/api/v1/auth/refresh", json={"refreshToken": first})
        assert rotated.status_code == 200
        second = rotated.json()["data"]["refreshToken"]
        assert second != first
        # A thief replays the first token: the session dies for everyone.
        theft = await client.post("/api/v1/auth/refresh", json={"refreshToken": first})
        owner = await client.post("/api/v1/auth/refresh", json={"refreshToken": second})
        access = await client.get("/api/v1/users/me", headers=bearer(rotated.json()["data"]["accessToken"]))
    assert theft.status_code == 401 and "already used" in theft.json()["error"]["message"]
    assert owner.status_code == 401
    assert access.status_code == 401


async def test_tampered_expired_and_misused_tokens_are_refused(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        access = tokens["accessToken"]
        header, payload, signature = access.split(".")
        tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
        forged = jwt.encode(
            {**jwt.decode(access, options={"verify_signature": False}), "role": "admin"},
            "a-guessed-secret-that-is-long-enough-for-hs256",
            algorithm="HS256",
        )
        assert settings.auth.jwt_secret is not None
        secret = settings.auth.jwt_secret.get_secret_value()
        claims = jwt.decode(access, options={"verify_signature": False})
        expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, secret, algorithm="HS256")
        none_alg = jwt.encode({**claims}, "", algorithm="none")  # "" is the none algorithm's no key
        results = {
            name: await client.get("/api/v1/users/me", headers=bearer(token))
            for name, token in {
                "tampered": tampered,
                "forged": forged,
                "expired": expired,
                "none": none_alg,
                "refresh-as-access": tokens["refreshToken"],
            }.items()
        }
        as_refresh = await client.post("/api/v1/auth/refresh", json={"refreshToken": access})
    for name, response in results.items():
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED", name
    assert "expired" in results["expired"].json()["error"]["message"]
    assert as_refresh.status_code == 401


async def test_logout_logout_all_and_session_management(settings: Settings) -> None:
    async with account_client(settings) as client:
        account, first = await signed_in(client)
        second = (await login(client, account)).json()["data"]
        third = (await login(client, account)).json()["data"]
        listed = (await client.get("/api/v1/users/me/sessions", headers=bearer(first["accessToken"]))).json()[
            "data"
        ]
        assert len(listed) == 3 and sum(s["current"] for s in listed) == 1
        assert {"id", "device", "ip", "createdAt", "lastActiveAt"} <= set(listed[0])
        other = next(s["id"] for s in listed if not s["current"])
        ended = await client.delete(
            f"/api/v1/users/me/sessions/{other}", headers=bearer(first["accessToken"])
        )
        assert ended.status_code == 200
        assert (
            len(
                (await client.get("/api/v1/users/me/sessions", headers=bearer(first["accessToken"]))).json()[
                    "data"
                ]
            )
            == 2
        )
        assert (
            await client.post("/api/v1/auth/logout", headers=bearer(first["accessToken"]))
        ).status_code == 200
        assert (await client.get("/api/v1/users/me", headers=bearer(first["accessToken"]))).status_code == 401
        alive = [
            t
            for t in (second, third)
            if (await client.get("/api/v1/users/me", headers=bearer(t["accessToken"]))).status_code == 200
        ]
        assert len(alive) == 1
        out = await client.post("/api/v1/auth/logout-all", headers=bearer(alive[0]["accessToken"]))
        assert out.json()["data"]["sessionsEnded"] == 1
        assert (
            await client.get("/api/v1/users/me", headers=bearer(alive[0]["accessToken"]))
        ).status_code == 401
        unknown = await client.delete("/api/v1/users/me/sessions/nope", headers=bearer(second["accessToken"]))
    assert unknown.status_code == 401  # that session was already ended by the first revoke or logout-all


async def test_profile_update_strips_markup(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        response = await client.patch(
            "/api/v1/users/me",
            headers=bearer(tokens["accessToken"]),
            json={
                "displayName": "<b>Ada</b><script>alert(1)</script>",
                "bio": "Hi <img src=x onerror=alert(1)>there",
            },
        )
    data = response.json()["data"]
    assert response.status_code == 200
    assert "<" not in data["displayName"] and "script" not in data["displayName"].lower()
    assert "onerror" not in data["bio"]


async def test_sql_looking_input_is_stored_harmlessly(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        payload = "Robert'); DROP TABLE users;--"
        response = await client.patch(
            "/api/v1/users/me", headers=bearer(tokens["accessToken"]), json={"bio": payload}
        )
        again = await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))
        injection = await client.post(
            "/api/v1/auth/login", json={"email": "x@example.com' OR '1'='1", "password": "x"}
        )
    assert response.status_code == 200 and again.json()["data"]["bio"] == payload
    assert injection.status_code == 422
