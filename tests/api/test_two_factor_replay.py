"""A TOTP code works once (RFC 6238 §5.2): once accepted, it is refused for the rest of its validity, by
every instance (the accepted time steps live in Redis), wherever a code is accepted."""

from __future__ import annotations

import asyncio
import time

import pyotp
import pytest

from neurmatic.settings import Settings
from tests.api.accounts import Account, account_client, bearer, fast_settings, login, signed_in
from tests.conftest import RunningTopology


@pytest.fixture
def settings(topology: RunningTopology) -> Settings:
    fast = fast_settings(topology.app_settings())
    return fast.model_copy(update={"rate_limit": fast.rate_limit.model_copy(update={"two_factor": "50/15m"})})


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the step after the current one (accepted now, one step of drift): a code not used yet."""
    return totp.at(time.time() + totp.interval)


async def test_a_code_signs_in_once_on_any_instance(settings: Settings) -> None:
    # two app instances sharing the topology's PostgreSQL and Redis, as backend-1 and backend-2 do
    async with account_client(settings) as one, account_client(settings) as other:
        account, tokens = await signed_in(one)
        auth = bearer(tokens["accessToken"])
        totp = pyotp.TOTP((await one.post("/api/v1/auth/2fa/setup", headers=auth)).json()["data"]["secret"])
        confirming = totp.now()
        confirmed = await one.post("/api/v1/auth/2fa/verify", headers=auth, json={"code": confirming})
        confirmation_replayed = await other.post("/api/v1/auth/login", json=_body(account, confirming))
        code = _next_code(totp)
        first = await one.post("/api/v1/auth/login", json=_body(account, code))
        again_same_instance = await one.post("/api/v1/auth/login", json=_body(account, code))
        again_other_instance = await other.post("/api/v1/auth/login", json=_body(account, code))
    assert confirmed.status_code == 200
    assert first.status_code == 200, first.text
    for refused in (confirmation_replayed, again_same_instance, again_other_instance):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["details"] == {"twoFactorRequired": True, "codeReused": True}
        assert "accessToken" not in refused.text


async def test_two_concurrent_uses_of_a_code_let_one_through(settings: Settings) -> None:
    async with account_client(settings) as one, account_client(settings) as other:
        account, tokens = await signed_in(one)
        auth = bearer(tokens["accessToken"])
        totp = pyotp.TOTP((await one.post("/api/v1/auth/2fa/setup", headers=auth)).json()["data"]["secret"])
        assert (await one.post("/api/v1/auth/2fa/verify", headers=auth, json={"code": totp.now()})).is_success
        code = _next_code(totp)
        answers = await asyncio.gather(
            *(client.post("/api/v1/auth/login", json=_body(account, code)) for client in (one, other) * 3)
        )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401, 401, 401]


async def test_a_code_used_to_sign_in_does_not_turn_two_factor_off(settings: Settings) -> None:
    async with account_client(settings) as client:
        account, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        totp = pyotp.TOTP(
            (await client.post("/api/v1/auth/2fa/setup", headers=auth)).json()["data"]["secret"]
        )
        assert (
            await client.post("/api/v1/auth/2fa/verify", headers=auth, json={"code": totp.now()})
        ).is_success
        code = _next_code(totp)
        signed = await login(client, account, totp=code)
        second_auth = bearer(signed.json()["data"]["accessToken"])
        disable_replayed = await client.post(
            "/api/v1/auth/2fa/disable", headers=second_auth, json={"code": code}
        )
        still_on = await login(client, account)
    assert signed.status_code == 200
    assert disable_replayed.status_code == 401 and disable_replayed.json()["error"]["details"]["codeReused"]
    assert still_on.status_code == 401 and still_on.json()["error"]["details"]["twoFactorRequired"] is True


def _body(account: Account, code: str) -> dict[str, str]:
    return {"email": account.email, "password": account.password, "totp": code}
