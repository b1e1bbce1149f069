"""The refresh grace window: a lost refresh response retried at once gets the same pair, not a revocation.

Reuse outside the window, of an older token, or after the successor was used still revokes the session
(``test_auth.py`` covers reuse itself)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from neurmatic.api.auth import service
from neurmatic.domain.sessions.store import REFRESH_GRACE_PREFIX
from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, signed_in
from tests.api.conftest import asgi_app

REFRESH = "/api/v1/auth/refresh"


async def test_a_retry_within_the_window_gets_the_same_pair_and_keeps_the_session(
    settings: Settings,
) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        first = tokens["refreshToken"]
        rotated = await client.post(REFRESH, json={"refreshToken": first})
        assert rotated.status_code == 200
        # The response was lost: the client presents the token it just spent, twice (two tabs) at once.
        retries = await asyncio.gather(
            client.post(REFRESH, json={"refreshToken": first}),
            client.post(REFRESH, json={"refreshToken": first}),
        )
        pair = rotated.json()["data"]
        me = await client.get("/api/v1/users/me", headers=bearer(pair["accessToken"]))
        onward = await client.post(REFRESH, json={"refreshToken": pair["refreshToken"]})
        redis = asgi_app(client).state.clients.redis
        grace_keys = [key async for key in redis.scan_iter(match=f"{REFRESH_GRACE_PREFIX}*")]
    for retry in retries:
        assert retry.status_code == 200, retry.text
        assert retry.json()["data"] == pair
    assert me.status_code == 200
    assert onward.status_code == 200 and onward.json()["data"]["refreshToken"] != pair["refreshToken"]
    # Named by a hash of the spent token, never the token; holding no token either.
    spent_key = f"{REFRESH_GRACE_PREFIX}{hashlib.sha256(first.encode()).hexdigest()}"
    assert spent_key.encode() in grace_keys or spent_key in grace_keys
    async with account_client(settings) as client:
        record = await asgi_app(client).state.clients.redis.hgetall(spent_key)
    assert record and not any(b"." in value for value in record.values())


async def test_concurrent_first_use_of_a_token_gets_one_pair_and_keeps_the_session(
    settings: Settings,
) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        first = tokens["refreshToken"]
        answers = await asyncio.gather(
            *(client.post(REFRESH, json={"refreshToken": first}) for _ in range(4))
        )
        assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
        pairs = {answer.json()["data"]["refreshToken"] for answer in answers}
        onward = await client.post(REFRESH, json={"refreshToken": pairs.pop()})
    assert not pairs and onward.status_code == 200


async def test_a_retry_after_the_window_revokes_the_session(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "REFRESH_GRACE_SECONDS", 0.3)
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        first = tokens["refreshToken"]
        rotated = (await client.post(REFRESH, json={"refreshToken": first})).json()["data"]
        await asyncio.sleep(0.6)
        late = await client.post(REFRESH, json={"refreshToken": first})
        owner = await client.post(REFRESH, json={"refreshToken": rotated["refreshToken"]})
        access = await client.get("/api/v1/users/me", headers=bearer(rotated["accessToken"]))
    assert late.status_code == 401 and "already used" in late.json()["error"]["message"]
    assert owner.status_code == 401 and access.status_code == 401


async def test_an_older_spent_token_revokes_within_the_window(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        chain = [tokens["refreshToken"]]
        for _ in range(3):
            rotated = await client.post(REFRESH, json={"refreshToken": chain[-1]})
            chain.append(rotated.json()["data"]["refreshToken"])
        # Seconds old, but two rotations before the last one: not a lost answer.
        older = await client.post(REFRESH, json={"refreshToken": chain[1]})
        owner = await client.post(REFRESH, json={"refreshToken": chain[-1]})
    assert older.status_code == 401 and "already used" in older.json()["error"]["message"]
    assert owner.status_code == 401


async def test_the_spent_token_revokes_once_its_successor_was_used(settings: Settings) -> None:
    async with account_client(settings) as client:
        _, tokens = await signed_in(client)
        first = tokens["refreshToken"]
        second = (await client.post(REFRESH, json={"refreshToken": first})).json()["data"]["refreshToken"]
        third = (await client.post(REFRESH, json={"refreshToken": second})).json()["data"]
        # ``first`` was spent a moment ago, but its successor ``second`` is already in use: a thief.
        replayed = await client.post(REFRESH, json={"refreshToken": first})
        owner = await client.post(REFRESH, json={"refreshToken": third["refreshToken"]})
    assert replayed.status_code == 401 and "already used" in replayed.json()["error"]["message"]
    assert owner.status_code == 401
